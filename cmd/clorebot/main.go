// Command clorebot rents, watches and cancels GPU servers on the Clore.ai
// marketplace from Slack, Discord, signed webhooks and its own command line.
//
// This package is the composition root: it reads the configuration, sets up
// logging and wires the packages together. It holds no logic of its own.
package main

import (
	"context"
	"os"
)

// main runs the command line; Main decides per command which signals it
// traps (DESIGN.md §6).
func main() {
	os.Exit(Main(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
