package main

import (
	"fmt"
	"os"
	"sort"
)

// devCommands are the "skiff dev <name>" developer tools. Each lives in its
// own file and adds itself from init with registerDev.
var devCommands = map[string]command{}

func registerDev(name, summary string, run func(args []string) error) {
	if _, dup := devCommands[name]; dup {
		panic("skiff: duplicate dev subcommand " + name)
	}
	devCommands[name] = command{name: name, summary: summary, run: run}
}

func init() {
	register("dev", "developer tools (demo, ...); 'skiff dev' lists them", runDev)
}

func devUsage() {
	fmt.Fprintln(os.Stderr, "usage: skiff dev <tool> [flags]\n\ntools:")
	names := make([]string, 0, len(devCommands))
	for n := range devCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-14s %s\n", n, devCommands[n].summary)
	}
}

func runDev(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		devUsage()
		if len(args) == 0 {
			return fmt.Errorf("no tool given: pick one of the tools listed above")
		}
		return nil
	}
	c, ok := devCommands[args[0]]
	if !ok {
		devUsage()
		return fmt.Errorf("unknown dev tool %q: pick one of the tools listed above", args[0])
	}
	return c.run(args[1:])
}
