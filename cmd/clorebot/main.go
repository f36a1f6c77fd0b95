// Command clorebot rents, watches and cancels GPU servers on the Clore.ai
// marketplace from Slack, Discord, signed webhooks and its own command line.
//
// This package is the composition root: it reads the configuration, sets up
// logging and wires the packages together. It holds no logic of its own.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
