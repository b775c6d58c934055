package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

// jobStore is what the job routes need of the job store (internal/dynamo
// in AWS, internal/dev/inmem in unit tests).
type jobStore interface {
	Get(ctx context.Context, owner, id string) (jobs.Job, error)
	// Head is Get without the prompt's and text's items (previews
	// instead): what answers a poll whose copy is current.
	Head(ctx context.Context, owner, id string) (jobs.Job, error)
	List(ctx context.Context, owner string, limit int, cursor string) (jobs.Page, error)
	// Search is List of the jobs whose prompts or answers hold every one
	// of words (jobs.SearchWords), a page of them at a time.
	Search(ctx context.Context, owner string, words []string, limit int, cursor string) (jobs.Page, error)
	Cancel(ctx context.Context, owner, id string) (jobs.Job, error)
}

// submitter accepts jobs (internal/submit): the rules of POST /generate
// and POST /generate/batch live there, and the handlers only decode and
// encode.
type submitter interface {
	Submit(ctx context.Context, owner string, entries []submit.Entry) ([]submit.Result, error)
}

// Authenticator turns a bearer token into the caller's id (the Cognito
// sub). It returns a *jobs.Error of KindUnauthorized for a bad token.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (owner string, err error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, token string) (string, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string) (string, error) {
	return f(ctx, token)
}

// revocationChecker confirms a token was not revoked (Cognito GetUser). It
// guards only the routes that spend money.
type revocationChecker interface {
	Check(ctx context.Context, token string) error
}

// requestLimiter counts every authenticated request against its user's
// request rate (dynamo.Limiter.AllowRequest): a *jobs.Error of
// KindRateLimited refuses it.
type requestLimiter interface {
	AllowRequest(ctx context.Context, owner string) error
}

// usageReader reads a user's budget counters for today
// (internal/dynamo.Store.Usage).
type usageReader interface {
	Usage(ctx context.Context, owner string) (jobs.Usage, error)
}

// watcher marks a job watched (internal/dynamo.Store.Watch): a poll of a
// bulk job tells its worker to write its text as often as an interactive
// job's (jobs.NeedsWatchMark).
type watcher interface {
	Watch(ctx context.Context, owner, id string, until time.Time) error
}

// Deps are the handler's collaborators. Store, Submit and Auth are
// required.
type Deps struct {
	Store    jobStore
	Submit   submitter
	Auth     Authenticator
	Revoke   revocationChecker // nil: no revocation check
	Requests requestLimiter    // nil: no per-user rate of requests that create jobs
	Usage    usageReader       // nil: GET /usage answers 404
	Watch    watcher           // nil: a job's text is written every jobs.UnwatchedFlushInterval once its start is past, polled or not
}

// Config is the handler's behaviour. Zero fields take the documented
// defaults (see withDefaults).
type Config struct {
	Limits          jobs.Limits
	Budgets         jobs.Budgets // shown by GET /usage (the submit service enforces them)
	AllowedOrigins  []string     // CORS: exact origins, never "*"
	MaxBodyBytes    int64        // POST /generate; default 256 KiB
	MaxBatchBytes   int64        // POST /generate/batch; default 5 MiB
	MaxBatchEntries int          // default 100
	// PollQueued and PollRunning are the Retry-After hints for jobs not yet
	// terminal: queued jobs wait for a worker, running ones change about
	// once a second (the worker's flush interval), and a queued job put
	// off for longer is told when its message comes back. PollQueued
	// defaults to jobs.PollQueued.
	PollQueued  time.Duration
	PollRunning time.Duration
	// Economy is whether the economy lane is enabled: its queue is
	// configured, and its collector and completion function run. Without
	// it a batch for the economy lane is refused with a 400.
	Economy bool
	// ReadsPerSecond is each user's rate of the other requests (polls,
	// listings, usage, cancels), counted in the instance's memory
	// (readLimiter); 0: none.
	ReadsPerSecond int
	// StandIn says every model is answered by the local stand-in
	// (internal/dev/localmodel, under make dev), which costs nothing:
	// GET /usage prices its tokens at $0, not at the models' list
	// prices. Only the dev stack sets it; a deployed API never does.
	StandIn bool
	Logger  *slog.Logger
	Now     func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 256 << 10
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = 5 << 20
	}
	if c.MaxBatchEntries == 0 {
		c.MaxBatchEntries = 100
	}
	if c.PollQueued == 0 {
		c.PollQueued = jobs.PollQueued
	}
	if c.PollRunning == 0 {
		c.PollRunning = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Handler serves the API.
type Handler struct {
	cfg   Config
	deps  Deps
	mux   *http.ServeMux
	cors  cors
	reads *readLimiter // nil: reads are not limited
}

// New returns the API handler, or an error if the configuration cannot work.
func New(cfg Config, deps Deps) (*Handler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("httpapi: limits: %w", err)
	}
	if deps.Store == nil || deps.Submit == nil || deps.Auth == nil {
		return nil, errors.New("httpapi: Store, Submit and Auth are required")
	}
	c, err := newCORS(cfg.AllowedOrigins)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	h := &Handler{cfg: cfg, deps: deps, mux: http.NewServeMux(), cors: c, reads: newReadLimiter(cfg.ReadsPerSecond)}
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	h.mux.Handle("POST /generate", h.authed(h.generate, true))
	h.mux.Handle("POST /generate/batch", h.authed(h.generateBatch, true))
	h.mux.Handle("GET /jobs", h.authed(h.listJobs, false))
	h.mux.Handle("GET /jobs/{id}", h.authed(h.getJob, false))
	h.mux.Handle("POST /jobs/{id}/cancel", h.authed(h.cancelJob, false))
	h.mux.Handle("GET /usage", h.authed(h.getUsage, false))

	// The same paths without a method pattern catch the wrong methods, so
	// a 405 carries the JSON error shape too (ServeMux's own is text).
	for path, allow := range map[string]string{
		"/generate":         "POST",
		"/generate/batch":   "POST",
		"/jobs":             "GET",
		"/jobs/{id}":        "GET",
		"/jobs/{id}/cancel": "POST",
		"/usage":            "GET",
	} {
		h.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow+", OPTIONS")
			h.writeError(w, r, &jobs.Error{Kind: kindMethodNotAllowed,
				Message: fmt.Sprintf("%s %s is not supported; use %s.", r.Method, r.URL.Path, allow)})
		})
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, &jobs.Error{Kind: jobs.KindNotFound, Message: fmt.Sprintf("There is no endpoint %s.", r.URL.Path)})
	})
}

// ServeHTTP adds the request id, CORS and the access log around the routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Now()
	reqID := requestID(r)
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	ctx := withRequestInfo(r.Context(), &requestInfo{id: reqID})
	r = r.WithContext(ctx)

	rec.Header().Set("X-Request-Id", reqID)
	if h.cors.apply(rec, r) {
		// A preflight is answered here, before authentication: browsers
		// send it without credentials.
		rec.WriteHeader(http.StatusNoContent)
	} else {
		h.mux.ServeHTTP(rec, r)
	}

	info := requestInfoFrom(ctx)
	attrs := []slog.Attr{
		slog.String("request_id", reqID),
		slog.String("method", r.Method),
		slog.String("route", r.Pattern),
		slog.Int("status", rec.status),
		slog.Duration("duration", h.cfg.Now().Sub(start)),
	}
	if info.user != "" {
		attrs = append(attrs, slog.String("user", info.user))
	}
	if info.jobID != "" {
		attrs = append(attrs, slog.String("job_id", info.jobID))
	}
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelError
	}
	h.cfg.Logger.LogAttrs(ctx, level, "request", attrs...)
}

// recorder remembers the status for the access log.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
