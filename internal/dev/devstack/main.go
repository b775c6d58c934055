package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
)

// Main is the dev runner's command (scripts/dev): with no arguments it runs
// the stack until SIGINT or SIGTERM; "reset" deletes the stack's data. It
// returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if os.Getenv(roleEnv) == roleKumo {
		return kumoChild(stderr)
	}
	cfg, err := FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "promptq dev: %v\n", err)
		return 2
	}
	switch {
	case len(args) == 0:
		return run(cfg, stdout, stderr)
	case len(args) == 1 && args[0] == "reset":
		return reset(cfg, stdout, stderr)
	}
	fmt.Fprintln(stderr, "usage: promptq-dev [reset]   (make dev, make dev-reset)")
	return 2
}

func run(cfg Config, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := New(cfg, stdout, logger)
	if err := s.Run(ctx); err != nil {
		interrupted := ctx.Err() != nil
		stop()
		if interrupted {
			fmt.Fprintln(stdout, "promptq dev: interrupted while starting; stopped")
			return 130
		}
		fmt.Fprintf(stderr, "promptq dev: %v\n", err)
		return 1
	}
	code := 0
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "promptq dev: stopping")
	case <-s.Done():
		fmt.Fprintf(stderr, "promptq dev: %v; stopping\n", s.Err())
		code = 1
	}
	// A second Ctrl-C while stopping ends the runner at once; its kumo
	// child follows it, and the next start stops a cognito-local left over.
	stop()
	_ = s.Close()
	fmt.Fprintln(stdout, "promptq dev: stopped")
	return code
}

// reset deletes the stack's data and logs, unless a runner holds the dir.
func reset(cfg Config, stdout, stderr io.Writer) int {
	release, err := checkNotRunning(cfg.Dir)
	if err != nil {
		var running *RunningError
		if errors.As(err, &running) {
			fmt.Fprintf(stderr, "promptq dev-reset: refused: %v\n", err)
		} else {
			fmt.Fprintf(stderr, "promptq dev-reset: %v\n", err)
		}
		return 1
	}
	defer release()
	killLeftovers(cfg.Dir)
	for _, p := range []string{filepath.Join(cfg.Dir, "data"), filepath.Join(cfg.Dir, "logs"), devinfo.Path(cfg.Dir)} {
		if err := os.RemoveAll(p); err != nil {
			fmt.Fprintf(stderr, "promptq dev-reset: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "promptq dev-reset: deleted the dev stack's data and logs in %s; the next make dev starts clean\n", cfg.Dir)
	return 0
}
