package devstack

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/esm"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/worker"
	"github.com/promptq/promptq/internal/workerapp"
)

// newPollers builds the worker Lambda's handler as lambdas/worker does
// (internal/workerapp), with its configuration read through getenv and its
// store and queues on the local stand-ins, and a poller for each lane's
// queue as the stack's event source mappings poll them: one message an
// invocation, at most the lane's concurrency at once.
func (s *Stack) newPollers(ctx context.Context, getenv func(string) string, db *dynamodb.Client, sqsClient *sqs.Client, urls sqsqueue.LaneURLs) ([]*esm.Poller, error) {
	cfg, err := worker.LoadConfig(getenv)
	if err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	clients := workerapp.Clients{DynamoDB: db, SQS: sqsClient}
	if cfg.Provider == worker.ProviderBedrock {
		if clients.Bedrock, err = bedrockClient(ctx); err != nil {
			return nil, err
		}
	}
	w, err := workerapp.New(cfg, clients, s.hooks.model, s.log.With("component", "worker"))
	if err != nil {
		return nil, err
	}
	lanes := cfg.Quota.Split()
	var pollers []*esm.Poller
	for _, lane := range jobs.Lanes {
		p, err := esm.New(sqsClient, s.hooks.handler(w.Handle), esm.Options{
			QueueURL:        urls[lane],
			FunctionTimeout: s.cfg.WorkerTimeout,
			FunctionName:    "promptq-worker",
			BatchSize:       1,
			Concurrency:     lanes.Of(lane),
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
