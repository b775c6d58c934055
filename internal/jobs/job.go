package jobs

import (
	"time"

	"github.com/google/uuid"
)

// Status is where a job is in its lifecycle.
type Status string

// The statuses a job can have.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Terminal reports whether no further transition can happen.
func (s Status) Terminal() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusQueued, StatusRunning, StatusSucceeded, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// Tokens counts the model's input and output tokens for a job.
type Tokens struct {
	Input  int `json:"input"`
	Output int `json:"output"`
}

// Failure is why a job failed, in words a person can read. Code is
// snake_case and stable for scripts.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Failure codes recorded on failed jobs.
const (
	FailureModel         = "model_error"       // the model rejected the request for good
	FailureRetries       = "retries_exhausted" // transient errors until the last receive
	FailureEnqueue       = "enqueue_failed"    // the API stored the job but could not queue it
	FailurePurged        = "purged"            // an operator purged it from the dead-letter queue
	FailureThrottled     = "throttled"         // the model's quota had no room for it for a long time
	FailureInvalidOutput = "invalid_output"
)

// Job is one generation request and its result.
type Job struct {
	ID     string // time-ordered (UUIDv7), so sorting ids sorts by creation
	Owner  string // the Cognito sub of the user who submitted it
	Status Status
	Lane   Lane

	Prompt      string
	System      string
	Model       string
	MaxTokens   int
	Temperature *float64 // nil: the model's default

	GeneratedText string
	Tokens        Tokens
	StopReason    string
	Failure       *Failure

	// Attempts counts claims by a worker; LeaseUntil is when a running
	// job's claim lapses, so a job whose worker died is claimable again.
	Attempts   int
	LeaseUntil time.Time

	IdempotencyKey string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// SentAt is when the job's queue message was last known to be on its
	// way: sent when the job was created, replayed or rescued, or received
	// by a worker's claim. A client's replay of a queued job sends the
	// message again only when SentAt is older than a threshold (see
	// internal/submit), so replays cannot flood the queue.
	SentAt     time.Time
	StartedAt  time.Time // first claim of the current attempt
	FinishedAt time.Time
	ExpiresAt  time.Time // the store deletes the job after this (TTL)

	// Budget is what the job holds of its owner's limits (set at submit;
	// the stores move it).
	Budget Budget
}

// NewID returns a new job id: a UUIDv7, whose string form sorts by time.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// ValidID reports whether s has the shape of a job id. Checking it before a
// store lookup keeps junk out of keys and logs.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// Message is what the queue carries: enough for the worker to find the job
// and to decide whether it may start now. Everything else is read from the
// store, so a message never carries a prompt or any other user text.
type Message struct {
	JobID string `json:"job_id"`
	Owner string `json:"owner"`
	// Lane is the job's lane; empty in messages from before lanes
	// (Lane.OrDefault).
	Lane Lane `json:"lane,omitempty"`
	// Model and Tokens let a worker check the model's pace and its
	// owner's fair share before it touches the job: Tokens is the job's
	// worst-case token use (Request.TokenBudget). Zero when unknown: the
	// worker then reads them from the job.
	Model  string `json:"model,omitempty"`
	Tokens int    `json:"tokens,omitempty"`
	// Throttles counts the times the model refused the job for its quota
	// (a throttle), and ThrottledSince (Unix seconds) is when the first
	// was: they set the backoff, and a job throttled for longer than a
	// long cap fails. A throttle is never counted as a failed try.
	Throttles      int   `json:"throttles,omitempty"`
	ThrottledSince int64 `json:"throttled_since,omitempty"`
}

// Message is the queue message for j, as first sent.
func (j Job) Message() Message {
	return Message{
		JobID:  j.ID,
		Owner:  j.Owner,
		Lane:   j.Lane.OrDefault(),
		Model:  j.Model,
		Tokens: j.Request().TokenBudget(),
	}
}

// Request is the generation request j was made from.
func (j Job) Request() Request {
	return Request{
		Prompt:      j.Prompt,
		System:      j.System,
		MaxTokens:   j.MaxTokens,
		Temperature: j.Temperature,
		Model:       j.Model,
		Lane:        j.Lane.OrDefault(),
	}
}

// Progress is a partial or final result the worker writes to a running job.
type Progress struct {
	GeneratedText string
	Tokens        Tokens
	StopReason    string
}

// Page is one page of a user's jobs, newest first. NextCursor is opaque and
// empty on the last page.
type Page struct {
	Jobs       []Job
	NextCursor string
}

// IdempotencyTTL is how long an Idempotency-Key keeps returning its job.
const IdempotencyTTL = 24 * time.Hour

// DefaultJobTTL is how long a job is kept before the store's TTL deletes it.
const DefaultJobTTL = 30 * 24 * time.Hour

// NewJob is one job for a bulk create, with its request's fingerprint.
type NewJob struct {
	Job         Job
	Fingerprint string
	Budget      int // the request's token budget, for limits
}

// CreateResult is the outcome of one NewJob: the stored job (or the
// original one, when its idempotency key was seen before: Created false),
// or Err.
type CreateResult struct {
	Job     Job
	Created bool
	Err     error
}

// Cost is what a submission asks of a user's limits: how many jobs, and
// their token budget (see Request.TokenBudget).
type Cost struct {
	Jobs   int
	Tokens int
}

// AsNew is j as a store accepts a new job: queued, on its lane (the
// interactive one unless set), with no result, attempt, lease or charge
// (its reservation is kept), CreatedAt
// now unless set (in UTC), UpdatedAt and SentAt = CreatedAt, and ExpiresAt
// CreatedAt+ttl unless set, in whole seconds (a TTL attribute's
// precision). Temperature is copied, so the caller's variable and the
// stored job never share it.
func (j Job) AsNew(now time.Time, ttl time.Duration) Job {
	j.Status = StatusQueued
	j.Lane = j.Lane.OrDefault()
	j.Attempts = 0
	j.LeaseUntil = time.Time{}
	j.GeneratedText, j.Tokens, j.StopReason, j.Failure = "", Tokens{}, "", nil
	j.StartedAt, j.FinishedAt = time.Time{}, time.Time{}
	j.Budget = Budget{Day: j.Budget.Day, Reserved: j.Budget.Reserved, Stack: j.Budget.Stack}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = now
	}
	j.CreatedAt = j.CreatedAt.UTC()
	j.UpdatedAt = j.CreatedAt
	j.SentAt = j.CreatedAt
	if j.ExpiresAt.IsZero() {
		j.ExpiresAt = j.CreatedAt.Add(ttl)
	}
	j.ExpiresAt = time.Unix(j.ExpiresAt.Unix(), 0).UTC()
	if j.Temperature != nil {
		t := *j.Temperature
		j.Temperature = &t
	}
	return j
}

// StaleSince reports whether j has shown no sign of life since before: it
// is queued and was last updated before then, or running with a lease that
// lapsed before then. A worker keeps a running job's lease fresh, and a
// queued job's message reaches a worker within the queue's visibility
// timeout or backoff; a job stale for longer than both has lost its
// message (internal/rescue).
func (j Job) StaleSince(before time.Time) bool {
	switch j.Status {
	case StatusQueued:
		return j.UpdatedAt.Before(before)
	case StatusRunning:
		return j.LeaseUntil.Before(before)
	}
	return false
}
