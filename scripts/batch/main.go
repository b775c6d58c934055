// Command batch submits a JSONL file of prompts to promptq's API, waits for
// the jobs if asked, and writes their results in input order; run again
// after an interruption, it resumes. `batch --help` explains every flag.
// The code is in internal/batch.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/promptq/promptq/internal/batch"
)

func main() {
	// The first Ctrl-C stops the run cleanly (calls in flight finish, the
	// state is saved); once it has, a second one kills as usual.
	stop, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-stop.Done(); cancel() }()
	os.Exit(batch.Main(stop, os.Args[1:], os.Getenv, os.Stderr, term.IsTerminal(int(os.Stderr.Fd()))))
}
