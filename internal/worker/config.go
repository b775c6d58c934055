package worker

import (
	"errors"
	"fmt"
	"time"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// Config is the worker Lambda's configuration, read once from the
// environment by internal/app/worker's FromEnv. Each field names its
// variable and default; this is the one place they are documented.
//
// The AWS SDK reads its own variables as usual (AWS_REGION, AWS_MAX_ATTEMPTS
// for the SDK's retries within one call, AWS_ENDPOINT_URL_DYNAMODB and
// AWS_ENDPOINT_URL_SQS for local stand-ins).
type Config struct {
	// Table is the jobs table's name. PROMPTQ_TABLE, required.
	Table string
	// QueueURLs are the lanes' queues: to change a received message's
	// visibility, and to send a job's message again when it must wait.
	// PROMPTQ_INTERACTIVE_QUEUE_URL and PROMPTQ_BULK_QUEUE_URL, required.
	QueueURLs sqsqueue.LaneURLs
	// Quota is what the account may ask of the model: the lanes'
	// concurrency (each owner's fair share is of their lane's) and the
	// tokens-per-minute pace. PROMPTQ_MODEL_CONCURRENCY (default 10),
	// PROMPTQ_INTERACTIVE_SHARE (0.25), PROMPTQ_MODEL_TOKENS_PER_MINUTE (0:
	// unknown, not paced); see internal/quota.
	Quota quota.Quota
	// FairShares holds each owner to a fair share of their lane.
	// PROMPTQ_FAIR_SHARES, default true.
	FairShares bool

	// MaxReceiveCount must equal the maxReceiveCount of the queue's redrive
	// policy: on that receive a job that would be retried is failed
	// instead, just before SQS moves its message to the dead-letter queue.
	// PROMPTQ_MAX_RECEIVE_COUNT, default 5.
	MaxReceiveCount int
	// Concurrency bounds how many messages of one batch run at once.
	// PROMPTQ_WORKER_CONCURRENCY, default 10 (SQS's largest batch without a
	// batching window).
	Concurrency int
	// Lease is how long a claim, and every progress write, reserves the job.
	// A worker that dies loses the job this long after its last write.
	// Keep it below the queue's visibility timeout, so a redelivered
	// message finds the lease expired. PROMPTQ_LEASE, default 1m.
	Lease time.Duration
	// FlushInterval is how often the growing text is written to the job
	// while someone watches it (only when it changed; jobs.Job.FlushEvery).
	// PROMPTQ_FLUSH_INTERVAL, default jobs.WatchedFlushInterval (1.5s).
	FlushInterval time.Duration
	// DeadlineMargin is how long before the Lambda deadline the model is
	// stopped, leaving time to release the job and answer.
	// PROMPTQ_DEADLINE_MARGIN, default 10s.
	DeadlineMargin time.Duration
	// BackoffBase and BackoffMax shape the visibility timeout given to a
	// message after a transient error: BackoffBase doubled for each earlier
	// receive, capped at BackoffMax, with jitter in its upper half.
	// PROMPTQ_BACKOFF_BASE, default 10s; PROMPTQ_BACKOFF_MAX, default 15m
	// (SQS allows at most 12h).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// ThrottleBackoffBase and ThrottleBackoffMax shape the wait of a job
	// the model refused for its quota, by its number of throttles (which
	// use up none of its receives). PROMPTQ_THROTTLE_BACKOFF_BASE, default
	// 2s; PROMPTQ_THROTTLE_BACKOFF_MAX, default 5m (at most 15m, SQS's
	// longest message delay).
	ThrottleBackoffBase time.Duration
	ThrottleBackoffMax  time.Duration
	// ThrottleGiveUpAfter is how long after its first throttle a job still
	// refused fails (code "throttled"). PROMPTQ_THROTTLE_GIVE_UP_AFTER,
	// default 6h.
	ThrottleGiveUpAfter time.Duration
}

// DefaultConfig returns the defaults, with Table and QueueURLs empty.
func DefaultConfig() Config {
	return Config{
		MaxReceiveCount:     5,
		Concurrency:         10,
		Lease:               time.Minute,
		FlushInterval:       jobs.WatchedFlushInterval,
		DeadlineMargin:      10 * time.Second,
		BackoffBase:         10 * time.Second,
		BackoffMax:          15 * time.Minute,
		ThrottleBackoffBase: 2 * time.Second,
		ThrottleBackoffMax:  5 * time.Minute,
		ThrottleGiveUpAfter: 6 * time.Hour,
		Quota:               quota.Default(),
		FairShares:          true,
	}
}

// maxVisibility is SQS's largest visibility timeout.
const maxVisibility = 12 * time.Hour

// Validate checks the configuration, so a misconfigured Lambda fails at init
// rather than on its first message.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Table != "", "PROMPTQ_TABLE is required")
	for _, lane := range jobs.Lanes {
		check(c.QueueURLs[lane] != "", "%s is required", quota.QueueURLEnv(lane))
	}
	c.validateRun(check)
	return errors.Join(errs...)
}

// validateRun checks the settings the Worker itself uses (New checks only
// these, so tests need no table or queue names).
func (c Config) validateRun(check func(ok bool, format string, args ...any)) {
	check(c.MaxReceiveCount >= 1, "PROMPTQ_MAX_RECEIVE_COUNT must be at least 1")
	check(c.Concurrency >= 1, "PROMPTQ_WORKER_CONCURRENCY must be at least 1")
	check(c.FlushInterval > 0, "PROMPTQ_FLUSH_INTERVAL must be positive")
	// A lease shorter than a few flushes would lapse between two writes.
	check(c.Lease >= 3*c.FlushInterval, "PROMPTQ_LEASE (%s) must be at least three flush intervals (%s)", c.Lease, 3*c.FlushInterval)
	check(c.DeadlineMargin >= 0, "PROMPTQ_DEADLINE_MARGIN must not be negative")
	check(c.BackoffBase >= 0, "PROMPTQ_BACKOFF_BASE must not be negative")
	check(c.BackoffMax >= c.BackoffBase, "PROMPTQ_BACKOFF_MAX must be at least PROMPTQ_BACKOFF_BASE")
	check(c.BackoffMax <= maxVisibility, "PROMPTQ_BACKOFF_MAX must be at most %s (SQS's limit)", maxVisibility)
	check(c.ThrottleBackoffBase > 0, "PROMPTQ_THROTTLE_BACKOFF_BASE must be positive")
	check(c.ThrottleBackoffMax >= c.ThrottleBackoffBase, "PROMPTQ_THROTTLE_BACKOFF_MAX must be at least PROMPTQ_THROTTLE_BACKOFF_BASE")
	check(c.ThrottleBackoffMax <= maxDelay, "PROMPTQ_THROTTLE_BACKOFF_MAX must be at most %s (SQS's longest message delay)", maxDelay)
	check(c.ThrottleGiveUpAfter > 0, "PROMPTQ_THROTTLE_GIVE_UP_AFTER must be positive")
	if err := c.Quota.Validate(); err != nil {
		check(false, "%v", err)
	}
}
