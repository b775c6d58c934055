// Package worker is the worker Lambda's configuration, read from the
// environment once and validated ([FromEnv]), and its wiring ([New]): from
// the configuration, AWS clients and a model to an internal/worker.Worker
// with its store, the lanes' queues, the fair shares, the models' seats
// and the model's pace. lambdas/worker and the dev runner both build the
// worker here, so the code paths are the same; only the endpoints and the
// model differ. The caller picks the model: lambdas/worker always Amazon
// Bedrock (internal/bedrock), the dev runner the local model or Bedrock
// (devstack.NewModel), so no development model is linked into the Lambda.
package worker

import (
	"fmt"

	"github.com/promptq/promptq/internal/app/appenv"
	"github.com/promptq/promptq/internal/envvar"
	"github.com/promptq/promptq/internal/worker"
)

// Config is the worker's configuration: internal/worker's Config, whose
// fields name their variables and defaults.
type Config = worker.Config

// Provider is the one model provider the worker Lambda calls:
// PROMPTQ_MODEL_PROVIDER, default and only value "bedrock". The dev
// runner's local model ("local") is refused by name.
const Provider = "bedrock"

// FromEnv reads the configuration from getenv (os.Getenv in main),
// applies defaults and validates it. Durations use Go syntax ("90s", "1m").
func FromEnv(getenv func(string) string) (Config, error) {
	c := worker.DefaultConfig()
	r := envvar.New(getenv)
	r.String("PROMPTQ_TABLE", &c.Table)
	// A missing URL is named by Validate, below.
	c.QueueURLs, _ = appenv.LaneURLs(getenv)
	if q, err := appenv.Quota(getenv); err != nil {
		r.Add(err)
	} else {
		c.Quota = q
	}
	// Ranges are Validate's, which also checks a Config built in code.
	r.Bool("PROMPTQ_FAIR_SHARES", &c.FairShares)
	provider := Provider
	r.String("PROMPTQ_MODEL_PROVIDER", &provider)
	switch provider {
	case Provider:
	case "local":
		r.Add(fmt.Errorf("PROMPTQ_MODEL_PROVIDER=%q: the worker Lambda calls Amazon Bedrock (%q); the local model runs only under make dev", provider, Provider))
	default:
		r.Add(fmt.Errorf("PROMPTQ_MODEL_PROVIDER=%q must be %q", provider, Provider))
	}
	r.Int("PROMPTQ_MAX_RECEIVE_COUNT", &c.MaxReceiveCount, envvar.NoMin, envvar.NoMax)
	r.Int("PROMPTQ_WORKER_CONCURRENCY", &c.Concurrency, envvar.NoMin, envvar.NoMax)
	r.Duration("PROMPTQ_LEASE", &c.Lease, 0, 0)
	r.Duration("PROMPTQ_FLUSH_INTERVAL", &c.FlushInterval, 0, 0)
	r.Duration("PROMPTQ_DEADLINE_MARGIN", &c.DeadlineMargin, 0, 0)
	r.Duration("PROMPTQ_BACKOFF_BASE", &c.BackoffBase, 0, 0)
	r.Duration("PROMPTQ_BACKOFF_MAX", &c.BackoffMax, 0, 0)
	r.Duration("PROMPTQ_THROTTLE_BACKOFF_BASE", &c.ThrottleBackoffBase, 0, 0)
	r.Duration("PROMPTQ_THROTTLE_BACKOFF_MAX", &c.ThrottleBackoffMax, 0, 0)
	r.Duration("PROMPTQ_THROTTLE_GIVE_UP_AFTER", &c.ThrottleGiveUpAfter, 0, 0)
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
