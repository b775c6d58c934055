package batch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/promptq/promptq/internal/apiclient"
)

// Options configure a run. Config (flags, environment, .local/dev.json)
// fills them for the command; tests set them directly.
type Options struct {
	Input  string // the input file: requests (JSONL) or, with Template, a table (CSV or JSONL)
	Output string // the results file; the state file is Output + ".state"
	APIURL string // e.g. http://127.0.0.1:8787 or https://x.execute-api.../prod

	// Template is the path of a prompt template (Go's text/template) that
	// makes each row of a table (a CSV file with a header, or a JSONL
	// file of objects) into a prompt; SystemTemplate, if set, the system
	// prompt's; IDColumn, if set, the field that keys each row. Without
	// Template the input is a file of requests.
	Template, SystemTemplate, IDColumn string
	// Model, if set, is every request's model, replacing the file's;
	// MaxTokens, if positive, the max_tokens of a request that sets none.
	Model     string
	MaxTokens int
	// Schema, if set, is the path of a JSON schema file: every request
	// asks for JSON conforming to it (response_format, replacing the
	// file's), named SchemaName if that is set.
	Schema, SchemaName string

	// Auth gives the access token: a fixed one or a Cognito login.
	Auth tokenSource

	Concurrency   int    // batch calls (and polls) in flight at once
	BatchSize     int    // entries per POST /generate/batch, 1..100
	MaxBatchBytes int    // body size of one batch call
	KeyPrefix     string // first part of every idempotency key

	// Economy submits on the economy lane (Bedrock's batch inference, at
	// its lower price, typically within hours) instead of the bulk lane;
	// EconomyFallback asks that a prompt batch inference fails run on the
	// bulk lane instead of failing.
	Economy, EconomyFallback bool

	Wait         bool          // poll until every job is terminal
	PollInterval time.Duration // between polling rounds (a job's Retry-After wins)
	WaitTimeout  time.Duration // give up waiting after this; 0: no limit

	MaxAttempts int // per API call, the first included
	RetryBudget int // retries the whole run may make
	BaseDelay   time.Duration
	MaxDelay    time.Duration

	HTTPClient *http.Client

	Progress         io.Writer // where progress and the summary go (stderr)
	Terminal         bool      // Progress is a terminal: draw a bar
	ProgressInterval time.Duration

	// Sleep waits between retries and polls; tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnBatch, if set, is called after each batch's records are saved
	// (tests use it to interrupt a run halfway).
	OnBatch func(submitted int)
}

// The defaults of Options, documented in the command's --help.
const (
	DefaultConcurrency      = 4
	DefaultBatchSize        = 100
	DefaultMaxBatchBytes    = 5<<20 - 64<<10 // the API takes 5 MiB; keep a margin
	DefaultKeyPrefix        = "batch"
	DefaultPollInterval     = 2 * time.Second
	DefaultMaxAttempts      = 8
	DefaultRetryBudget      = 200
	DefaultProgressInterval = 10 * time.Second
)

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.BatchSize <= 0 || o.BatchSize > 100 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.RetryBudget < 0 {
		o.RetryBudget = 0
	} else if o.RetryBudget == 0 {
		o.RetryBudget = DefaultRetryBudget
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = 500 * time.Millisecond
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 30 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 2 * time.Minute}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = DefaultProgressInterval
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	return o
}

// StatePath is where a run keeps its state for the results file output.
func StatePath(output string) string { return output + ".state" }

// Summary is what a run did.
type Summary struct {
	Counts
	Calls    int64 // HTTP requests to the API, retries included
	Retries  int64
	Duration time.Duration
	// Submitting is the time the submission took (reading the input and
	// sending every line), before any waiting.
	Submitting time.Duration
	// Results is the results file written, or "" when the run stopped
	// before the end (its state is kept; re-running resumes).
	Results string
	// Usage is the caller's usage today (GET /usage) as the run ended;
	// nil when the run was interrupted or the API did not say. Its call
	// is not counted in Calls.
	Usage *Usage
}

// SetupError is a problem with the input or the state file, found before
// anything was sent.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// Errors that say why a run ended early; Main maps them to exit codes.
var (
	// ErrInterrupted: stop was cancelled (Ctrl-C).
	ErrInterrupted = errors.New("interrupted; re-run the same command to resume")
	// ErrWaitTimeout: --wait-timeout passed with jobs still unfinished.
	ErrWaitTimeout = errors.New("gave up waiting (--wait-timeout); re-run the same command to go on waiting")
)

// Run submits the input's requests, optionally waits for their jobs, and
// writes the results file. It returns early with ErrInterrupted when stop
// is cancelled (after the calls in flight have answered and their jobs are
// saved), and with other errors for what ends a run (ErrBudget,
// ErrUnauthorized, a file that cannot be written); the state is kept
// either way, so running again with the same input resumes.
func Run(stop context.Context, o Options) (Summary, error) {
	start := time.Now()
	o = o.withDefaults()
	format, lines, err := openInput(o)
	if err != nil {
		return Summary{}, &SetupError{err}
	}
	o.Wait = o.Wait || waits(format)
	state, known, err := openState(StatePath(o.Output), lines)
	if err != nil {
		return Summary{}, &SetupError{err}
	}
	defer state.close()

	r := &run{o: o, format: format, lines: lines, state: state, track: newTracker(lines, known), structured: map[int]bool{}}
	for _, l := range lines {
		if l.Structured {
			r.structured[l.N] = true
		}
	}
	// halt stops the run's calls when the user interrupts it or a call
	// fails in a way that ends the run; calls in flight still finish.
	halt, cancel := context.WithCancelCause(stop)
	defer cancel(nil)
	r.halt, r.cancel = halt, cancel
	r.client = &client{
		api:    &apiclient.Client{BaseURL: strings.TrimRight(o.APIURL, "/"), HTTP: o.HTTPClient},
		auth:   o.Auth,
		policy: &retryPolicy{MaxAttempts: o.MaxAttempts, BaseDelay: o.BaseDelay, MaxDelay: o.MaxDelay},
		stop:   halt,
		sleep:  o.Sleep,
		lane:   envelopeLane(o.Economy, o.EconomyFallback),
	}
	r.client.policy.budget.Store(int64(o.RetryBudget))

	prog := startProgress(o.Progress, o.Terminal, o.ProgressInterval, r.track, o.Wait)
	err = r.submit()
	submitted := time.Since(start)
	if err == nil && o.Wait {
		err = r.wait()
	}
	if err == nil {
		err = r.writeResults()
	}
	sum := Summary{
		Counts:     r.track.snapshot(),
		Calls:      r.client.calls.Load(),
		Retries:    r.client.retries.Load(),
		Duration:   time.Since(start),
		Submitting: submitted,
	}
	if err == nil {
		sum.Results = o.Output
	}
	if err != nil && stop.Err() != nil {
		err = ErrInterrupted
	}
	if stop.Err() == nil {
		// One call, for the summary: what today cost and what is left. A
		// run stopped by a daily limit says so here too.
		if u, uerr := r.client.getUsage(); uerr == nil {
			sum.Usage = &u
		}
	}
	prog.finish(sum)
	return sum, err
}

type run struct {
	o      Options
	format inputFormat
	lines  []Line
	// structured are the lines whose requests have a schema, by number.
	structured map[int]bool
	state      *stateFile
	track      *tracker
	client     *client
	halt       context.Context
	cancel     context.CancelCauseFunc

	saveMu sync.Mutex // orders state appends with tracker updates

	unsentMu sync.Mutex
	unsent   map[int]string // line -> why it is still unsent
}

// fail ends the run with err (the first error wins).
func (r *run) fail(err error) { r.cancel(err) }

// stopErr is why the run halted, or nil.
func (r *run) stopErr() error {
	if r.halt.Err() == nil {
		return nil
	}
	return context.Cause(r.halt)
}

// save appends records to the state (fsync'd) and then shows them.
func (r *run) save(recs []Record, replayed map[int]bool) error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	if err := r.state.append(recs...); err != nil {
		return err
	}
	for _, rec := range recs {
		r.track.set(rec, replayed[rec.Line])
	}
	return nil
}
