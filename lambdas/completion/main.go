// Command completion is the economy lane's completion Lambda. Bedrock's
// "Batch Inference Job State Change" events of promptq's runs (an
// EventBridge rule on the default bus) and a schedule (the safety net:
// events are best effort) invoke it; it ends each run whose model
// invocation job ended, giving every job of the run its result, through
// internal/economy. Its configuration and wiring are internal/app/economy's,
// which documents every variable.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	app "github.com/promptq/promptq/internal/app/economy"
	"github.com/promptq/promptq/internal/economy"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	lane, err := app.Setup(context.Background(), os.Getenv, slog.Default())
	if err != nil {
		slog.Error("completion init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(handler(lane))
}

// handler completes the run of a Bedrock event, or, on the schedule,
// every open run.
func handler(lane *economy.Lane) func(context.Context, events.CloudWatchEvent) error {
	return func(ctx context.Context, ev events.CloudWatchEvent) error {
		if ev.Source == "aws.events" {
			_, err := lane.Check(ctx)
			return err
		}
		return lane.HandleEvent(ctx, ev)
	}
}
