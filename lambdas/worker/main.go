// Command worker is the worker Lambda: SQS batches of job messages in
// (ReportBatchItemFailures on), generation on Amazon Bedrock out, through
// internal/worker. Its configuration is read from the environment by
// worker.LoadConfig, which documents every variable.
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
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/localmodel"
	"github.com/promptq/promptq/internal/sqsqueue"
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
	cfg, err := worker.LoadConfig(getenv)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	var model worker.Model
	switch cfg.Provider {
	case worker.ProviderLocal:
		model = localmodel.New(localmodel.Options{TokensPerSecond: cfg.LocalTokensPerSecond, Latency: cfg.LocalLatency})
	default:
		model = bedrock.New(bedrockruntime.NewFromConfig(awsCfg), bedrock.Options{})
	}
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg), cfg.Table, dynamo.Options{})
	queue := sqsqueue.New(sqs.NewFromConfig(awsCfg), cfg.QueueURL)
	return worker.New(store, queue, model, cfg, slog.Default())
}
