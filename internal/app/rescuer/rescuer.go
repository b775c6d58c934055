// Package rescuer is the rescuer Lambda's configuration, read from the
// environment once and validated ([FromEnv]), and its wiring ([New]): an
// internal/rescue.Rescuer on the jobs table and the lanes' queues.
// lambdas/rescuer and the dev runner both build the rescuer here.
package rescuer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/app/appenv"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/envvar"
	"github.com/promptq/promptq/internal/rescue"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// Config is the rescuer Lambda's configuration, read once from the
// environment by [FromEnv]; each field names its variable and default.
type Config struct {
	// Table is the jobs table. PROMPTQ_TABLE, required.
	Table string
	// QueueURLs are the lanes' queues. PROMPTQ_INTERACTIVE_QUEUE_URL and
	// PROMPTQ_BULK_QUEUE_URL, required.
	QueueURLs sqsqueue.LaneURLs
	// MaxReceiveCount is the jobs queue's redrive maxReceiveCount, as the
	// worker is given it (rescue.Options.MaxAttempts).
	// PROMPTQ_MAX_RECEIVE_COUNT, default 5.
	MaxReceiveCount int
	// After is rescue.Options.After. PROMPTQ_RESCUE_AFTER, default 45m:
	// the stack's 30-minute visibility timeout plus a margin that also
	// covers the worker's 15-minute longest backoff.
	After time.Duration
}

// DefaultAfter is Config.After's default.
const DefaultAfter = 45 * time.Minute

// FromEnv reads the configuration with getenv (os.Getenv in main) and
// validates it.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{MaxReceiveCount: 5, After: DefaultAfter}
	r := envvar.New(getenv)
	r.Required("PROMPTQ_TABLE", &c.Table)
	urls, err := appenv.LaneURLs(getenv)
	r.Add(err)
	c.QueueURLs = urls
	r.Int("PROMPTQ_MAX_RECEIVE_COUNT", &c.MaxReceiveCount, 1, envvar.NoMax)
	r.Duration("PROMPTQ_RESCUE_AFTER", &c.After, time.Minute, 0)
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Clients are the AWS clients the rescuer uses. The caller builds them.
type Clients struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
}

// New builds the rescuer cfg describes, on the jobs table and the lanes'
// queues.
func New(_ context.Context, cfg Config, c Clients, logger *slog.Logger) (*rescue.Rescuer, error) {
	queues, err := sqsqueue.NewLanes(c.SQS, cfg.QueueURLs)
	if err != nil {
		return nil, fmt.Errorf("rescue: %w", err)
	}
	return rescue.New(dynamo.New(c.DynamoDB, cfg.Table, dynamo.Options{}), queues,
		rescue.Options{After: cfg.After, MaxAttempts: cfg.MaxReceiveCount}, logger)
}
