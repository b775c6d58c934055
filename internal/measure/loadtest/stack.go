package loadtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/standin"
)

// StackOptions configure [StartStack].
type StackOptions struct {
	// Dir is the dev dir (PROMPTQ_DEV_DIR). Empty: a new temporary dir,
	// removed by Close.
	Dir string
	// Env is the environment the stack reads, over the process's own: the
	// API's, the worker's and the dev runner's variables
	// (PROMPTQ_LOCAL_TOKENS_PER_SECOND, PROMPTQ_DEV_BATCHES, ...). The four
	// ports are 0 (free ones) unless Env names them.
	Env map[string]string
	// Hooks watch the stack (devstack.Hooks).
	Hooks devstack.Hooks
	// Log receives the stack's logs as JSON lines, info and above; nil
	// discards them.
	Log io.Writer
	// Console receives what `make dev` prints; nil discards it.
	Console io.Writer
}

// Stack is a running dev stack.
type Stack struct {
	*devstack.Stack
	Info   devinfo.Info
	Config devstack.Config
	// DB reaches the stack's DynamoDB without the hooks, for checks that
	// must not count as the product's requests.
	DB *dynamodb.Client

	tmp string
}

// StartStack starts a dev stack in this process. The process's main must
// hand itself to devstack.Main when devstack.IsChild() reports it is the
// stack's kumo child.
func StartStack(ctx context.Context, o StackOptions) (*Stack, error) {
	s := &Stack{}
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "promptq-loadtest-"); err != nil {
			return nil, fmt.Errorf("start stack: %w", err)
		}
		s.tmp = dir
	}
	env := map[string]string{
		"PROMPTQ_DEV_DIR":          dir,
		"PROMPTQ_DEV_WEB_PORT":     "0",
		"PROMPTQ_DEV_API_PORT":     "0",
		"PROMPTQ_DEV_AWS_PORT":     "0",
		"PROMPTQ_DEV_COGNITO_PORT": "0",
		"PROMPTQ_MODEL_PROVIDER":   "local",
	}
	maps.Copy(env, o.Env)
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	cfg, err := devstack.FromEnv(getenv)
	if err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("start stack: %w", err)
	}
	logOut, console := o.Log, o.Console
	if logOut == nil {
		logOut = io.Discard
	}
	if console == nil {
		console = io.Discard
	}
	logger := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s.Config = cfg
	s.Stack = devstack.New(cfg, console, logger)
	s.Stack.SetHooks(o.Hooks)
	if err := s.Stack.Run(ctx); err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("start stack: %w", err)
	}
	s.Info = s.Stack.Info()
	s.DB = standin.DynamoDB(s.Info.DynamoDBEndpoint)
	return s, nil
}

// Close stops the stack and removes its temporary dir.
func (s *Stack) Close() error {
	err := s.Stack.Close()
	s.removeTemp()
	return err
}

func (s *Stack) removeTemp() {
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
	}
}
