// Command jobevents is the jobevents Lambda: the jobs table's DynamoDB
// stream feeds it the jobs that end, and internal/jobevents announces each
// on the EventBridge bus named by PROMPTQ_EVENT_BUS and writes its metrics
// (embedded metric format) to stdout.
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

	"github.com/promptq/promptq/internal/envvar"
	"github.com/promptq/promptq/internal/eventbus"
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

// setup reads PROMPTQ_EVENT_BUS (the bus's name or ARN, required) and
// builds the handler.
func setup(ctx context.Context, getenv func(string) string) (*jobevents.Handler, error) {
	r := envvar.New(getenv)
	var busName string
	r.Required("PROMPTQ_EVENT_BUS", &busName)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	bus, err := eventbus.New(eventbridge.NewFromConfig(awsCfg), eventbus.Options{Bus: busName, Source: jobevents.Source})
	if err != nil {
		return nil, err
	}
	return jobevents.New(bus, jobevents.Options{Logger: slog.Default()}), nil
}
