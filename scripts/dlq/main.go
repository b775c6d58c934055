// Command dlq looks after promptq's dead-letter queue: list, show, replay
// and purge the jobs the worker gave up on, on the dev stack or a deployed
// stack. `dlq --help` explains the commands, flags and exit codes; the
// code is in internal/dlq.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/promptq/promptq/internal/dlq"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dlq.Main(ctx, os.Args[1:], dlq.Env{
		Getenv:        os.Getenv,
		Stdin:         os.Stdin,
		StdinTerminal: term.IsTerminal(int(os.Stdin.Fd())),
		Stdout:        os.Stdout,
		Stderr:        os.Stderr,
	})
	stop()
	os.Exit(code)
}
