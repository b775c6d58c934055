// Package workerapp is the worker's wiring: from its configuration
// (worker.LoadConfig) and AWS clients to a worker.Worker with its store,
// the lanes' queues, the fair shares, the model's pace and the model.
// lambdas/worker and the dev runner both build the worker here, so the
// code paths are the same; only the endpoints differ.
package workerapp

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/bedrock"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/localmodel"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/worker"
)

// Clients are the AWS clients the worker uses. The caller builds them, so
// lambdas/worker uses the default AWS configuration and the dev runner
// points them at local stand-ins. Bedrock is needed only with the bedrock
// provider.
type Clients struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	Bedrock  *bedrockruntime.Client
}

// New builds the worker cfg describes. wrap, if not nil, wraps the model
// (measurements count its calls).
func New(cfg worker.Config, c Clients, wrap func(worker.Model) worker.Model, logger *slog.Logger) (*worker.Worker, error) {
	var model worker.Model
	switch cfg.Provider {
	case worker.ProviderLocal:
		model = localmodel.New(localmodel.Options{
			TokensPerSecond: cfg.LocalTokensPerSecond,
			Latency:         cfg.LocalLatency,
			MaxConcurrent:   cfg.LocalMaxConcurrent,
			TokensPerMinute: cfg.LocalTokensPerMinute,
		})
	case worker.ProviderBedrock:
		if c.Bedrock == nil {
			return nil, errors.New("worker: the bedrock provider needs a Bedrock client")
		}
		model = bedrock.New(c.Bedrock, bedrock.Options{})
	default:
		return nil, fmt.Errorf("worker: unknown model provider %q", cfg.Provider)
	}
	if wrap != nil {
		model = wrap(model)
	}
	queues, err := sqsqueue.NewLanes(c.SQS, cfg.QueueURLs)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	opts := worker.Options{Logger: logger}
	if cfg.FairShares {
		opts.Shares = dynamo.NewShares(c.DynamoDB, cfg.Table, nil)
		opts.Queued = queues
	}
	if cfg.Quota.TokensPerMinute > 0 {
		opts.Pacer = dynamo.NewPacer(c.DynamoDB, cfg.Table, cfg.Quota.TokensPerMinute, nil)
	}
	store := dynamo.New(c.DynamoDB, cfg.Table, dynamo.Options{})
	// Each attempt is charged to its owner's budget (GET /usage).
	opts.Meter = store
	w, err := worker.New(store, queues, model, cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return w, nil
}
