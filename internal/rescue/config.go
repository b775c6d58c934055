package rescue

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/envvar"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// Config is the rescuer Lambda's configuration, read once from the
// environment by [LoadConfig]; each field names its variable and default.
type Config struct {
	// Table is the jobs table. PROMPTQ_TABLE, required.
	Table string
	// QueueURLs are the lanes' queues. PROMPTQ_INTERACTIVE_QUEUE_URL and
	// PROMPTQ_BULK_QUEUE_URL, required.
	QueueURLs sqsqueue.LaneURLs
	// MaxReceiveCount is the jobs queue's redrive maxReceiveCount, as the
	// worker is given it (Options.MaxAttempts). PROMPTQ_MAX_RECEIVE_COUNT,
	// default 5.
	MaxReceiveCount int
	// After is Options.After. PROMPTQ_RESCUE_AFTER, default 45m: the
	// stack's 30-minute visibility timeout plus a margin that also covers
	// the worker's 15-minute longest backoff.
	After time.Duration
}

// DefaultAfter is Config.After's default.
const DefaultAfter = 45 * time.Minute

// LoadConfig reads the configuration with getenv (os.Getenv in main) and
// validates it.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{MaxReceiveCount: 5, After: DefaultAfter}
	r := envvar.New(getenv)
	r.Required("PROMPTQ_TABLE", &c.Table)
	urls, err := sqsqueue.LaneURLsFromEnv(getenv)
	r.Add(err)
	c.QueueURLs = urls
	r.Int("PROMPTQ_MAX_RECEIVE_COUNT", &c.MaxReceiveCount, 1, envvar.NoMax)
	r.Duration("PROMPTQ_RESCUE_AFTER", &c.After, time.Minute, 0)
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Options are the Rescuer options the configuration sets.
func (c Config) Options() Options {
	return Options{After: c.After, MaxAttempts: c.MaxReceiveCount}
}

// Build is the rescuer c describes, on the jobs table and the lanes'
// queues through db and sqsClient: lambdas/rescuer and the dev runner
// both build it here.
func Build(c Config, db *dynamodb.Client, sqsClient *sqs.Client, logger *slog.Logger) (*Rescuer, error) {
	queues, err := sqsqueue.NewLanes(sqsClient, c.QueueURLs)
	if err != nil {
		return nil, fmt.Errorf("rescue: %w", err)
	}
	return New(dynamo.New(db, c.Table, dynamo.Options{}), queues, c.Options(), logger)
}
