// Command smoke checks a deployed promptq (or make dev) end to end: `make
// smoke`. internal/smoke does the work; --help says what it checks.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/promptq/promptq/internal/smoke"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := smoke.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
