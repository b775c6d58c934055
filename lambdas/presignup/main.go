// Command presignup is the Cognito pre-sign-up trigger the stack attaches
// when sign-up is limited to listed email domains (promptq:signUp=domains):
// it refuses an address at any other domain before Cognito creates the
// user. The rules are internal/signup's; its configuration is
// PROMPTQ_SIGN_UP and PROMPTQ_SIGN_UP_DOMAINS, read by signup.FromEnv.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/promptq/promptq/internal/signup"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	policy, err := signup.FromEnv(os.Getenv)
	if err != nil {
		slog.Error("presignup init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(signup.Handler(policy, slog.Default()))
}
