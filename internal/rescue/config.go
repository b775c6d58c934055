package rescue

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is the rescuer Lambda's configuration, read once from the
// environment by [LoadConfig]; each field names its variable and default.
type Config struct {
	// Table is the jobs table. PROMPTQ_TABLE, required.
	Table string
	// QueueURL is the jobs queue. PROMPTQ_QUEUE_URL, required.
	QueueURL string
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
		QueueURL:        strings.TrimSpace(getenv("PROMPTQ_QUEUE_URL")),
		MaxReceiveCount: 5,
		After:           DefaultAfter,
	}
	var errs []error
	if c.Table == "" {
		errs = append(errs, errors.New("PROMPTQ_TABLE is required"))
	}
	if c.QueueURL == "" {
		errs = append(errs, errors.New("PROMPTQ_QUEUE_URL is required"))
	}
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
