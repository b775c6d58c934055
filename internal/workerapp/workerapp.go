// Package workerapp is the worker's wiring: from its configuration
// (worker.LoadConfig), AWS clients and a model to a worker.Worker with its
// store, the lanes' queues, the fair shares, the models' seats and the
// model's pace.
// lambdas/worker and the dev runner both build the worker here, so the
// code paths are the same; only the endpoints and the model differ. The
// caller picks the model: lambdas/worker always Amazon Bedrock
// (internal/bedrock), the dev runner the local model or Bedrock
// (devstack.NewModel), so no development model is linked into the Lambda.
package workerapp

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/worker"
)

// Clients are the AWS clients the worker uses. The caller builds them, so
// lambdas/worker uses the default AWS configuration and the dev runner
// points them at local stand-ins.
type Clients struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
}

// New builds the worker cfg describes, calling model.
func New(cfg worker.Config, c Clients, model worker.Model, logger *slog.Logger) (*worker.Worker, error) {
	if model == nil {
		return nil, errors.New("worker: no model")
	}
	queues, err := sqsqueue.NewLanes(c.SQS, cfg.QueueURLs)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	// Generations at once are counted in the model's seats whatever the
	// lanes' mappings allow: the bulk lane's may run the whole quota.
	opts := worker.Options{Logger: logger, Capacity: dynamo.NewCapacity(c.DynamoDB, cfg.Table, nil)}
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
