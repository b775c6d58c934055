package jobs

import (
	"time"

	"github.com/google/uuid"

	"github.com/promptq/promptq/internal/catalogue"
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

// Tokens counts the model's tokens for a job, summed over every call its
// generation took (a continued generation makes more than one). Input
// counts the tokens billed at the input rate; CacheRead and CacheWrite the
// input tokens read from and written to the prompt cache, billed at their
// own rates (internal/catalogue).
type Tokens struct {
	Input      int `json:"input"`
	Output     int `json:"output"`
	CacheRead  int `json:"cache_read"`
	CacheWrite int `json:"cache_write"`
}

// Plus is t with u added.
func (t Tokens) Plus(u Tokens) Tokens {
	return Tokens{Input: t.Input + u.Input, Output: t.Output + u.Output,
		CacheRead: t.CacheRead + u.CacheRead, CacheWrite: t.CacheWrite + u.CacheWrite}
}

// Times is t with every count multiplied by n.
func (t Tokens) Times(n int) Tokens {
	return Tokens{Input: t.Input * n, Output: t.Output * n, CacheRead: t.CacheRead * n, CacheWrite: t.CacheWrite * n}
}

// Prompt is the call's prompt as its price band counts it: input, cache
// reads and cache writes.
func (t Tokens) Prompt() int { return t.Input + t.CacheRead + t.CacheWrite }

// Total is every token counted, as a model's quota counts them.
func (t Tokens) Total() int { return t.Input + t.Output + t.CacheRead + t.CacheWrite }

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
	FailureInvalidOutput = "invalid_output"    // the answer did not conform to the job's response_format, twice
	FailureRefused       = "refused"           // the model declined the request (stop reason refusal); not retried
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
	// Effort is the effort level the model runs at ("" for a model that
	// takes none): Request.Effort as submitted.
	Effort string
	// ResponseFormat is the schema the answer must conform to (nil: text),
	// stored with the prompt; a succeeded job's answer conforms to it.
	ResponseFormat *ResponseFormat

	GeneratedText string
	Tokens        Tokens
	StopReason    string
	Failure       *Failure
	// Continuations counts the model calls that went on from text an
	// earlier call had written (after the Lambda deadline, an error in
	// the middle of the stream, or a worker that died).
	Continuations int

	// Attempts counts claims by a worker; LeaseUntil is when a running
	// job's claim lapses, so a job whose worker died is claimable again.
	Attempts   int
	LeaseUntil time.Time

	IdempotencyKey string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// SentAt is when the job's queue message was last known to be on its
	// way: sent when the job was created, replayed or rescued, received
	// by a worker's claim, or, when a worker gave the job back to wait
	// (its owner's fair share, the model's pace or quota, a retry, an
	// answer continued), when that message comes back: a time to come. A
	// client's replay of a queued job sends the message again only when
	// SentAt is older than a threshold (see internal/submit), so replays
	// cannot flood the queue, also with a job its lane keeps putting off;
	// and GET /jobs/{id} tells a poller of a job put off to come back when
	// its message does, not sooner.
	SentAt time.Time
	// Waiting is why a queued job a worker gave back waits (its message
	// comes back at SentAt), until a worker claims it again; nil for a
	// job no worker has given back since its last claim or requeue.
	Waiting    *Wait
	StartedAt  time.Time // first claim of the current attempt
	FinishedAt time.Time
	ExpiresAt  time.Time // the store deletes the job after this (TTL)
	// WatchedUntil is when the last poll of the job stops counting as
	// someone watching it (watch.go); zero: never polled.
	WatchedUntil time.Time
	// TextDueAt is when the worker running the job is next due to write
	// its text, as its last progress write said (watch.go); zero before
	// the first write. Past it, the worker found nothing new to write.
	TextDueAt time.Time

	// Budget is what the job holds of its owner's limits (set at submit;
	// the stores move it).
	Budget Budget

	// Economy is an economy job's progress through Bedrock's batch
	// inference (nil for other lanes), and EconomyFallback whether a
	// record Bedrock fails goes to the bulk lane instead of failing.
	Economy         *Economy
	EconomyFallback bool

	// ContinuesFrom is the job whose answer this one goes on with
	// (ContinueRequest): it was created with that job's text as its own,
	// which its first call continues, and SeedBytes is that text's length
	// (every later text starts with it). A job replayed from scratch (a
	// requeue) starts again from it. "" and 0 for a job of its own.
	ContinuesFrom string
	SeedBytes     int
}

// Economy is where an economy job stands: waiting to be gathered into a
// run, or in run RunID, of which RecordsDone of RecordsTotal records are
// processed (as Bedrock last reported).
type Economy struct {
	RunID        string
	RecordsDone  int
	RecordsTotal int
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
	// Displaced counts the times the job gave a seat the bulk lane had
	// borrowed back to an interactive job, stopping mid-answer to go on
	// later: a job displaced once takes only a seat of its lane's own,
	// and is never displaced again (internal/quota.Quota.Choose).
	Displaced int `json:"displaced,omitempty"`
	// InvalidOutputs counts the answers of the job that did not conform
	// to its response format: after MaxInvalidOutputs the job fails
	// (FailureInvalidOutput) instead of trying again.
	InvalidOutputs int `json:"invalid_outputs,omitempty"`
}

// MaxInvalidOutputs is how many answers that do not conform to the job's
// response format a job may give before it fails: one, then one more try.
const MaxInvalidOutputs = 2

// Message is the queue message for j: its Tokens are the worst case of
// j's next model call (NextRequest), which continues any text written.
func (j Job) Message() Message {
	return Message{
		JobID:  j.ID,
		Owner:  j.Owner,
		Lane:   j.Lane.OrDefault(),
		Model:  j.Model,
		Tokens: j.NextRequest().TokenBudget(),
	}
}

// NextRequest is the request of j's next model call. With no text written
// yet it is j's request. Otherwise it continues GeneratedText (Continue),
// the way j's model allows (its catalogue entry's Continuation: a
// prefilled answer, or the answer as an earlier turn and a user turn
// asking to go on), and may write what is left of max_tokens after the
// output so far (0 when nothing is left: the answer is as long as the job
// allows). No word is written, or paid for as output, twice.
func (j Job) NextRequest() Request {
	r := j.Request()
	if j.GeneratedText == "" {
		return r
	}
	r.Continue, r.ContinueBy = j.GeneratedText, j.ContinuesBy()
	r.MaxTokens = max(j.MaxTokens-j.Tokens.Output, 0)
	return r
}

// ContinuesBy is how j's model continues an answer that stopped early (its
// catalogue entry's Continuation); a model the catalogue does not know is
// given a user turn, which every model takes.
func (j Job) ContinuesBy() catalogue.Continuation {
	return ContinuationOf(j.Model)
}

// ContinuationOf is how model continues an answer (catalogue.Continuation),
// a user turn for a model the catalogue does not know.
func ContinuationOf(model string) catalogue.Continuation {
	if m, ok := catalogue.Lookup(model); ok {
		return m.Continuation
	}
	return catalogue.UserTurn
}

// Request is the generation request j was made from.
func (j Job) Request() Request {
	return Request{
		Prompt:      j.Prompt,
		System:      j.System,
		MaxTokens:   j.MaxTokens,
		Temperature: j.Temperature,
		Effort:      j.Effort,
		Model:       j.Model,
		Lane:        j.Lane.OrDefault(),

		ResponseFormat: j.ResponseFormat,
	}
}

// Progress is a partial or final result the worker writes to a running
// job: the whole text so far and the token counts of every call so far.
//
// Saved, when set, says that the first Saved bytes of GeneratedText are
// already stored unchanged (the writer's last successful write, or what it
// read when it claimed the job): a store may then write only what follows.
// It is a hint for the cost of a write, never for its result: a store that
// ignores it stores the same text. Appended says more: what is stored is
// exactly the first Saved bytes (the text only grew since), so no stored
// byte changes and a store may write the new bytes without a transaction.
//
// Charge, on a result (a store's Finish), is what the writer's attempt
// used, not yet charged to the job's owner: the store charges it to that
// attempt in the write that ends the job and settles its budget, one
// transaction instead of a charge and a settlement (once per attempt, as
// the stores' Charge does; nothing when the attempt was charged already).
// Tokens are the job's, over all its calls; Charge is this attempt's.
type Progress struct {
	// TextDueAt is when the worker will next write the text, if it has
	// more (Job.TextDueAt); zero in a write that ends the job.
	TextDueAt     time.Time
	GeneratedText string
	Tokens        Tokens
	StopReason    string
	Continuations int
	Saved         int
	Appended      bool
	Charge        Tokens
}

// ListPreviewChars is how much of a job's prompt and text a listing shows.
// A store's List returns each job's Prompt and GeneratedText cut to
// Preview (one character more, so the listing can tell it was cut) and no
// System, so a listing never reads or carries whole answers; the text of a
// job still queued or running is not listed (its preview is stored with
// the result, which keeps progress writes the same size whatever the
// text: internal/dynamo).
const ListPreviewChars = 280

// Preview is s cut to ListPreviewChars+1 characters.
func Preview(s string) string {
	n := 0
	for i := range s {
		if n == ListPreviewChars+1 {
			return s[:i]
		}
		n++
	}
	return s
}

// Page is one page of a user's jobs, newest first, their prompts and texts
// cut to previews (see ListPreviewChars). NextCursor is opaque and empty on
// the last page.
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
// (its reservation is kept; its text too, which a job that continues
// another's answer starts with: ContinueRequest), CreatedAt
// now unless set (in UTC), UpdatedAt and SentAt = CreatedAt, and ExpiresAt
// CreatedAt+ttl unless set, in whole seconds (a TTL attribute's
// precision). Temperature is copied, so the caller's variable and the
// stored job never share it.
func (j Job) AsNew(now time.Time, ttl time.Duration) Job {
	j.Status = StatusQueued
	j.Lane = j.Lane.OrDefault()
	j.Attempts = 0
	j.LeaseUntil = time.Time{}
	j.Tokens, j.StopReason, j.Failure, j.Continuations = Tokens{}, "", nil, 0
	j.SeedBytes = len(j.GeneratedText)
	j.StartedAt, j.FinishedAt = time.Time{}, time.Time{}
	j.Waiting = nil
	j.Economy = nil
	if j.Lane == LaneEconomy {
		j.Economy = &Economy{} // waiting for a run
	}
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
