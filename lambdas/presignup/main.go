// Command presignup is the Cognito pre-sign-up trigger the stack attaches
// when sign-up is limited to listed email domains (promptq:signUp=domains):
// it refuses an address at any other domain before Cognito creates the
// user. The rules are internal/signup's; its configuration
// (PROMPTQ_SIGN_UP and PROMPTQ_SIGN_UP_DOMAINS) and wiring are
// internal/app/presignup's.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/promptq/promptq/internal/app/presignup"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := setup(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("presignup init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h)
}

// setup reads the configuration and builds the trigger; it calls no AWS
// service, so it has no clients.
func setup(ctx context.Context, getenv func(string) string) (presignup.Handler, error) {
	cfg, err := presignup.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return presignup.New(ctx, cfg, presignup.Clients{}, slog.Default())
}
