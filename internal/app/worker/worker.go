package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/worker"
)

// Clients are the AWS clients the worker uses, and its model. The caller
// builds them, so lambdas/worker uses the default AWS configuration and
// Amazon Bedrock, and the dev runner points them at local stand-ins.
type Clients struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	Model    worker.Model
}

// New builds the worker cfg describes, calling c.Model.
func New(_ context.Context, cfg Config, c Clients, logger *slog.Logger) (*worker.Worker, error) {
	if c.Model == nil {
		return nil, errors.New("worker: no model")
	}
	queues, err := sqsqueue.NewLanes(c.SQS, cfg.QueueURLs)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	// Generations at once are counted in the model's seats whatever the
	// lanes' mappings allow: the bulk lane's may run the whole quota.
	// The worker switches fair shares on or off (Config.FairShares).
	opts := worker.Options{Logger: logger, Capacity: dynamo.NewCapacity(c.DynamoDB, cfg.Table, nil),
		Shares: dynamo.NewShares(c.DynamoDB, cfg.Table, nil), Queued: queues}
	if cfg.Quota.TokensPerMinute > 0 {
		opts.Pacer = dynamo.NewPacer(c.DynamoDB, cfg.Table, cfg.Quota.TokensPerMinute, nil)
	}
	store := dynamo.New(c.DynamoDB, cfg.Table, dynamo.Options{})
	// Each attempt is charged to its owner's budget (GET /usage).
	opts.Meter = store
	w, err := worker.New(store, queues, c.Model, cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return w, nil
}
