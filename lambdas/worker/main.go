// Command worker is the worker Lambda: SQS batches of job messages in
// (ReportBatchItemFailures on), generation on Amazon Bedrock out, through
// internal/worker. Its configuration and wiring are internal/app/worker's.
// Its model is always Bedrock (internal/bedrock): the local stand-in runs
// only under make dev, and is not linked here.
//
// Clients are built once at init and reused across invocations.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	app "github.com/promptq/promptq/internal/app/worker"
	"github.com/promptq/promptq/internal/bedrock"
	"github.com/promptq/promptq/internal/worker"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	w, err := setup(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("worker init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(w.Handle)
}

// setup reads the configuration and builds the worker with its clients.
func setup(ctx context.Context, getenv func(string) string) (*worker.Worker, error) {
	cfg, err := app.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return app.New(ctx, cfg, app.Clients{
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		SQS:      sqs.NewFromConfig(awsCfg),
		Model:    bedrock.New(bedrockruntime.NewFromConfig(awsCfg), bedrock.Options{}),
	}, slog.Default())
}
