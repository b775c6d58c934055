package devstack

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/bedrock"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/esm"
	"github.com/promptq/promptq/internal/localmodel"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/worker"
)

// newWorker builds the worker Lambda's handler as lambdas/worker does, with
// its configuration read through getenv, the store and queue on the local
// stand-ins, and the model the configuration names (wrapped by wrap).
func newWorker(ctx context.Context, getenv func(string) string, db *dynamodb.Client, sqsClient *sqs.Client, wrap func(worker.Model) worker.Model, logger *slog.Logger) (esm.Handler, error) {
	cfg, err := worker.LoadConfig(getenv)
	if err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	var model worker.Model
	switch cfg.Provider {
	case worker.ProviderLocal:
		model = localmodel.New(localmodel.Options{TokensPerSecond: cfg.LocalTokensPerSecond, Latency: cfg.LocalLatency})
	case worker.ProviderBedrock:
		if model, err = bedrockModel(ctx); err != nil {
			return nil, err
		}
	}
	w, err := worker.New(dynamo.New(db, cfg.Table, dynamo.Options{}), sqsqueue.New(sqsClient, cfg.QueueURL), wrap(model), cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return w.Handle, nil
}

// bedrockModel is Bedrock with the default AWS configuration: the caller's
// credentials and region. Only this client goes to AWS; the rest of the
// stack keeps to its local endpoints, which it sets per client.
func bedrockModel(ctx context.Context) (*bedrock.Model, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("PROMPTQ_MODEL_PROVIDER=bedrock: AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("PROMPTQ_MODEL_PROVIDER=bedrock needs a region: set AWS_REGION (or a profile's region with AWS_PROFILE)")
	}
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("PROMPTQ_MODEL_PROVIDER=bedrock needs AWS credentials (aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): %w", err)
	}
	return bedrock.New(bedrockruntime.NewFromConfig(awsCfg), bedrock.Options{}), nil
}
