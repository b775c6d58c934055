package rescue

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/dynamo"
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
	c := Config{
		Table:           strings.TrimSpace(getenv("PROMPTQ_TABLE")),
		MaxReceiveCount: 5,
		After:           DefaultAfter,
	}
	var errs []error
	if c.Table == "" {
		errs = append(errs, errors.New("PROMPTQ_TABLE is required"))
	}
	urls, err := sqsqueue.LaneURLsFromEnv(getenv)
	errs = append(errs, err)
	c.QueueURLs = urls
	if v := strings.TrimSpace(getenv("PROMPTQ_MAX_RECEIVE_COUNT")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("PROMPTQ_MAX_RECEIVE_COUNT=%q: want a whole number, at least 1", v))
		}
		c.MaxReceiveCount = n
	}
	if v := strings.TrimSpace(getenv("PROMPTQ_RESCUE_AFTER")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			errs = append(errs, fmt.Errorf("PROMPTQ_RESCUE_AFTER=%q: want a duration of at least 1m, such as 45m", v))
		}
		c.After = d
	}
	if err := errors.Join(errs...); err != nil {
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
