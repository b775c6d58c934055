package devstack

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	workerapp "github.com/promptq/promptq/internal/app/worker"
	"github.com/promptq/promptq/internal/bedrock"
	"github.com/promptq/promptq/internal/dev/esm"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/worker"
)

// newPollers builds the worker Lambda's handler as lambdas/worker does
// (internal/app/worker), with its configuration read through getenv and its
// store and queues on the local stand-ins, and a poller for each lane's
// queue as the stack's event source mappings poll them: one message an
// invocation, at most the lane's mapping concurrency at once
// (quota.Quota.MappingConcurrency: the interactive lane its share, the
// bulk lane the whole quota; the model's seats bound the total).
func (s *Stack) newPollers(ctx context.Context, getenv func(string) string, db *dynamodb.Client, sqsClient *sqs.Client, urls sqsqueue.LaneURLs) ([]*esm.Poller, error) {
	cfg, err := workerapp.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	model, err := NewModel(ctx, s.cfg)
	if err != nil {
		return nil, err
	}
	w, err := workerapp.New(ctx, cfg, workerapp.Clients{DynamoDB: db, SQS: sqsClient, Model: s.hooks.model(model)}, s.log.With("component", "worker"))
	if err != nil {
		return nil, err
	}
	var pollers []*esm.Poller
	for _, lane := range jobs.Lanes {
		p, err := esm.New(sqsClient, s.hooks.handler(w.Handle), esm.Options{
			QueueURL:        urls[lane],
			FunctionTimeout: s.cfg.WorkerTimeout,
			FunctionName:    "promptq-worker",
			BatchSize:       1,
			Concurrency:     cfg.Quota.MappingConcurrency(lane),
			WaitTime:        s.cfg.PollWait,
			ReleaseOnStop:   true,
			Logger:          s.log.With("component", "esm", "lane", lane),
		})
		if err != nil {
			return nil, err
		}
		pollers = append(pollers, p)
	}
	return pollers, nil
}

// NewModel is the model cfg.Provider names for a worker run on this
// machine (the dev runner, scripts/measure/faults): the local stand-in
// (internal/dev/localmodel, with cfg.Local) or Amazon Bedrock with the
// caller's AWS configuration. lambdas/worker always calls Bedrock and
// never links the local model.
func NewModel(ctx context.Context, cfg Config) (worker.Model, error) {
	switch cfg.Provider {
	case ProviderLocal:
		return localmodel.New(cfg.Local), nil
	case ProviderBedrock:
		c, err := bedrockClient(ctx)
		if err != nil {
			return nil, err
		}
		return bedrock.New(c, bedrock.Options{}), nil
	}
	return nil, fmt.Errorf("worker: unknown model provider %q", cfg.Provider)
}

// bedrockClient is a Bedrock client with the default AWS configuration:
// the caller's credentials and region. Only this client goes to AWS; the
// rest of the stack keeps to its local endpoints, which it sets per client.
func bedrockClient(ctx context.Context) (*bedrockruntime.Client, error) {
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
	return bedrockruntime.NewFromConfig(awsCfg), nil
}
