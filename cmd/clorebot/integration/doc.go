// Package integration holds tests that run the command layer together with
// a front door (the signed-webhook API) over real SQLite and the sandbox
// Clore, through the real clients: tests that need two layers at once,
// which neither layer's own tests may import (internal/layout checks test
// imports too). Like cmd/clorebot, it may know every concrete type. It has
// no code of its own.
package integration
