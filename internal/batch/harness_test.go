package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/httpapi"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

// testAuth accepts "token-<user>" as user's access token.
var testAuth = httpapi.AuthenticatorFunc(func(_ context.Context, token string) (string, error) {
	if user, ok := strings.CutPrefix(token, "token-"); ok && user != "" {
		return user, nil
	}
	return "", &jobs.Error{Kind: jobs.KindUnauthorized, Message: "The access token is not valid."}
})

// api is the real API handler on an in-memory store and queue, behind an
// httptest server, with a fake worker and hooks to misbehave.
type api struct {
	store *inmem.Store
	queue *inmem.Queue
	srv   *httptest.Server

	// intercept, if set, sees every request first; returning true means it
	// answered (the handler never ran) or already served it.
	intercept func(w http.ResponseWriter, r *http.Request, serve http.Handler) bool

	batchCalls atomic.Int64
	usageCalls atomic.Int64 // GET /usage, which a run calls once at its end
	getCalls   atomic.Int64
	listCalls  atomic.Int64

	workMu sync.Mutex
	worked int // queue messages the fake worker has run
}

type apiOption func(*httpapi.Config)

func newAPI(t *testing.T, opts ...apiOption) *api {
	t.Helper()
	a := &api{store: inmem.NewStore(inmem.Options{}), queue: &inmem.Queue{}}
	limits := jobs.DefaultLimits()
	limits.Models = append(limits.Models, "promptq-local")
	cfg := httpapi.Config{
		Limits: limits,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Whole seconds only; 0 would mean the default.
		PollQueued:  time.Second,
		PollRunning: time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	h := newHandler(t, cfg, a.store, a.queue, nil, testAuth)
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/usage":
			a.usageCalls.Add(1)
		case r.Method == http.MethodPost && r.URL.Path == "/generate/batch":
			a.batchCalls.Add(1)
		case r.Method == http.MethodGet && r.URL.Path == "/jobs":
			a.listCalls.Add(1)
			a.work(r.Context())
		case r.Method == http.MethodGet:
			a.getCalls.Add(1)
			a.work(r.Context())
		}
		if a.intercept != nil && a.intercept(w, r, h) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// work runs every queued message, as a worker would: the job succeeds
// with text derived from its prompt ("FAIL" in a prompt fails it), JSON
// for a job with a schema. It runs
// when a client polls, so tests need no timing.
func (a *api) work(ctx context.Context) {
	a.workMu.Lock()
	defer a.workMu.Unlock()
	sent := a.queue.Sent()
	for _, m := range sent[a.worked:] {
		j, err := a.store.Claim(ctx, m.Owner, m.JobID, time.Minute)
		if err != nil {
			continue // cancelled or abandoned meanwhile
		}
		if strings.Contains(j.Prompt, "FAIL") {
			_ = a.store.Fail(ctx, m.Owner, m.JobID, j.Attempts, jobs.Failure{Code: jobs.FailureModel, Message: "The model refused."})
			continue
		}
		text := "echo: " + j.Prompt
		if j.ResponseFormat != nil {
			// One answer for every schema: tests give schemas it conforms to.
			text = fmt.Sprintf(`{"summary": %q, "stars": 4, "topics": ["a", "b"], "extra": {"k": true}, "gone": null}`, text)
		}
		tokens := jobs.Tokens{Input: len(j.Prompt), Output: len(text)}
		// Charged, then finished, as the worker does.
		_ = a.store.Charge(ctx, j, tokens)
		_ = a.store.Finish(ctx, m.Owner, m.JobID, j.Attempts, jobs.Progress{
			GeneratedText: text,
			Tokens:        tokens,
			StopReason:    "end_turn",
		})
	}
	a.worked = len(sent)
}

// jobsOf lists every job of owner in the store.
func (a *api) jobsOf(t *testing.T, owner string) []jobs.Job {
	t.Helper()
	var out []jobs.Job
	cursor := ""
	for {
		p, err := a.store.List(t.Context(), owner, 100, cursor)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Jobs...)
		if p.NextCursor == "" {
			return out
		}
		cursor = p.NextCursor
	}
}

// sleeps records the waits a run asked for and returns at once.
type sleeps struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.ds...)
}

// writeInput writes lines to a file in dir and returns its path.
func writeInput(t *testing.T, dir string, lines ...string) string {
	t.Helper()
	p := filepath.Join(dir, "prompts.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// prompts returns n input lines; every third has no id.
func prompts(n int) []string {
	out := make([]string, n)
	for i := range out {
		if i%3 == 2 {
			out[i] = fmt.Sprintf(`{"prompt": "prompt number %d", "max_tokens": 64}`, i)
		} else {
			out[i] = fmt.Sprintf(`{"id": "p%d", "prompt": "prompt number %d", "max_tokens": 64}`, i, i)
		}
	}
	return out
}

// options are a run's options against a, for user alice, with instant
// sleeps.
func (a *api) options(t *testing.T, input string, s *sleeps) Options {
	t.Helper()
	if s == nil {
		s = &sleeps{}
	}
	return Options{
		Input:      input,
		Output:     filepath.Join(filepath.Dir(input), "results.jsonl"),
		APIURL:     a.srv.URL,
		Auth:       staticToken("token-alice"),
		HTTPClient: a.srv.Client(),
		Sleep:      s.sleep,
	}
}

// readResults reads a results file.
func readResults(t *testing.T, path string) []Result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Result
	for line := range strings.Lines(string(data)) {
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("results line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// submitStore is what newHandler needs of a job store: the job routes'
// and the submission's methods (internal/dev/inmem, internal/dynamo).
type submitStore interface {
	Get(ctx context.Context, owner, id string) (jobs.Job, error)
	Head(ctx context.Context, owner, id string) (jobs.Job, error)
	List(ctx context.Context, owner string, limit int, cursor string) (jobs.Page, error)
	Search(ctx context.Context, owner string, words []string, limit int, cursor string) (jobs.Page, error)
	Cancel(ctx context.Context, owner, id string) (jobs.Job, error)
	CreateMany(ctx context.Context, items []jobs.NewJob) []jobs.CreateResult
	SwapSentAt(ctx context.Context, owner, id string, old, new time.Time) (jobs.Job, error)
	AbandonEnqueue(ctx context.Context, owner, id string, f jobs.Failure) error
	Reserve(ctx context.Context, owner string, cost jobs.Cost, limits jobs.Budgets) (jobs.Reservation, error)
	Unreserve(ctx context.Context, owner string, r jobs.Reservation) error
	UnreserveUnwritten(ctx context.Context, owner string, js []jobs.Job) error
	Usage(ctx context.Context, owner string) (jobs.Usage, error)
}

// newHandler is the API's handler on store and queue, as internal/app/api wires it
// in AWS; limiter may be nil (no per-user limits).
func newHandler(tb testing.TB, cfg httpapi.Config, store submitStore, queue interface {
	SendBatch(ctx context.Context, ms []jobs.Message) []error
}, limiter *dynamo.Limiter, auth httpapi.Authenticator) *httpapi.Handler {
	tb.Helper()
	deps := submit.Deps{Store: store, Queue: queue, Budget: store}
	if limiter != nil {
		deps.Limiter = limiter
	}
	svc, err := submit.New(submit.Config{Logger: cfg.Logger, Budgets: cfg.Budgets}, deps)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := httpapi.New(cfg, httpapi.Deps{Store: store, Submit: svc, Auth: auth, Usage: store})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}
