// Command jobevents is the jobevents Lambda: the jobs table's DynamoDB
// stream feeds it the jobs that end, and internal/jobevents announces each
// on the EventBridge bus named by PROMPTQ_EVENT_BUS and writes its metrics
// (embedded metric format) to stdout. Its configuration and wiring are
// internal/app/jobevents's.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	app "github.com/promptq/promptq/internal/app/jobevents"
	"github.com/promptq/promptq/internal/jobevents"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := setup(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("jobevents init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// setup reads the configuration and builds the handler with its client.
func setup(ctx context.Context, getenv func(string) string) (*jobevents.Handler, error) {
	cfg, err := app.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return app.New(ctx, cfg, app.Clients{EventBridge: eventbridge.NewFromConfig(awsCfg)}, slog.Default())
}
