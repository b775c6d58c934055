// Package presignup is the presignup Lambda's configuration, read from
// the environment once and validated ([FromEnv]), and its wiring ([New]):
// internal/signup's rules as Cognito's pre-sign-up trigger. lambdas/presignup
// and the dev runner (its Cognito trigger) read the policy here.
package presignup

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/envvar"
	"github.com/promptq/promptq/internal/signup"
)

// Config is the presignup Lambda's configuration, read once from the
// environment by [FromEnv].
type Config struct {
	// SignUp is who may sign up: PROMPTQ_SIGN_UP (open, domains or
	// invite; default open) and PROMPTQ_SIGN_UP_DOMAINS (a comma list,
	// required with domains and refused otherwise).
	SignUp signup.Policy
}

// FromEnv reads the configuration with getenv (os.Getenv in main) and
// validates it, naming what is wrong.
func FromEnv(getenv func(string) string) (Config, error) {
	r := envvar.New(getenv)
	mode := string(signup.ModeOpen)
	r.String("PROMPTQ_SIGN_UP", &mode)
	var domains []string
	r.List("PROMPTQ_SIGN_UP_DOMAINS", &domains)
	p, err := signup.New(signup.Mode(mode), domains)
	if err != nil {
		return Config{}, fmt.Errorf("PROMPTQ_SIGN_UP=%q, PROMPTQ_SIGN_UP_DOMAINS=%q: %w", mode, getenv("PROMPTQ_SIGN_UP_DOMAINS"), err)
	}
	return Config{SignUp: p}, nil
}

// Clients are the AWS clients the trigger uses: none, it answers from its
// configuration alone. The struct keeps New's shape the other binaries'.
type Clients struct{}

// Handler is the trigger's handler, as lambda.Start takes it.
type Handler = func(context.Context, events.CognitoEventUserPoolsPreSignup) (events.CognitoEventUserPoolsPreSignup, error)

// New builds the trigger cfg describes.
func New(_ context.Context, cfg Config, _ Clients, logger *slog.Logger) (Handler, error) {
	return signup.Handler(cfg.SignUp, logger), nil
}
