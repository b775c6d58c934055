// Command worker is the worker Lambda: SQS batches of job messages in
// (ReportBatchItemFailures on), generation on Amazon Bedrock out, through
// internal/worker. Its configuration is read from the environment by
// worker.LoadConfig, which documents every variable; internal/workerapp
// wires it. Its model is always Bedrock (internal/bedrock): the local
// stand-in runs only under make dev, and is not linked here.
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

	"github.com/promptq/promptq/internal/bedrock"
	"github.com/promptq/promptq/internal/worker"
	"github.com/promptq/promptq/internal/workerapp"
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
	cfg, err := worker.LoadConfig(getenv)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if cfg.Provider != worker.ProviderBedrock {
		return nil, fmt.Errorf("config: PROMPTQ_MODEL_PROVIDER=%q: the worker Lambda calls Amazon Bedrock (%q); the local model runs only under make dev",
			cfg.Provider, worker.ProviderBedrock)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return workerapp.New(cfg, workerapp.Clients{
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		SQS:      sqs.NewFromConfig(awsCfg),
	}, bedrock.New(bedrockruntime.NewFromConfig(awsCfg), bedrock.Options{}), slog.Default())
}
