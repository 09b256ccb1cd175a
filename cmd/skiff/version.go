package main

import (
	"fmt"

	"github.com/skiffnet/skiff/internal/version"
)

func init() {
	register("version", "print the Skiff version", func([]string) error {
		fmt.Println(version.String())
		return nil
	})
}
