package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/skiffnet/skiff/control/apiserver"
)

func init() {
	register("token", "manage node join tokens (token create)", runToken)
}

// runToken prints a join token K10<ca-sha256>::server:<secret>. The CA hash
// lets an agent check the server's CA before it sends any credential; the
// secret, kept in <data-dir>/token, authenticates the agent's join request.
func runToken(args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: skiff token create [--data-dir DIR]")
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "/var/lib/skiff/server", "the server's data directory")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	tok, err := apiserver.JoinToken(*dataDir)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}
