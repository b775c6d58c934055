package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dev/storetest"
	"github.com/promptq/promptq/internal/httpapi"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

const webOrigin = "https://app.example.com"

// testAuth accepts "token-<user>" and answers with <user> as the sub.
var testAuth = httpapi.AuthenticatorFunc(func(_ context.Context, token string) (string, error) {
	if user, ok := strings.CutPrefix(token, "token-"); ok {
		return user, nil
	}
	return "", &jobs.Error{Kind: jobs.KindUnauthorized, Message: "The access token is not valid."}
})

type fixture struct {
	handler *httpapi.Handler
	store   *inmem.Store
	queue   *inmem.Queue
	clock   *storetest.Clock
	logs    *strings.Builder
}

// env is what an option may change before setup builds the handler.
type env struct {
	cfg     httpapi.Config
	deps    httpapi.Deps
	budgets jobs.Budgets
}

type option func(*env)

func setup(t *testing.T, opts ...option) *fixture {
	t.Helper()
	clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
	f := &fixture{store: inmem.NewStore(inmem.Options{Now: clock.Now}), queue: &inmem.Queue{}, clock: clock, logs: &strings.Builder{}}
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{b: f.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	limits := jobs.DefaultLimits()
	limits.Models = append(limits.Models, haiku45)
	e := &env{
		cfg: httpapi.Config{
			Limits:         limits,
			AllowedOrigins: []string{webOrigin},
			Logger:         logger,
			Now:            clock.Now,
		},
		deps: httpapi.Deps{Store: f.store, Auth: testAuth, Usage: f.store},
	}
	for _, o := range opts {
		o(e)
	}
	e.cfg.Budgets = e.budgets
	sd := submit.Deps{Store: f.store, Queue: f.queue, Budget: f.store}
	svc, err := submit.New(submit.Config{Logger: logger, Now: clock.Now, Budgets: e.budgets}, sd)
	if err != nil {
		t.Fatal(err)
	}
	e.deps.Submit = svc
	h, err := httpapi.New(e.cfg, e.deps)
	if err != nil {
		t.Fatal(err)
	}
	f.handler = h
	return f
}

type lockedWriter struct{ b *strings.Builder }

func (w *lockedWriter) Write(p []byte) (int, error) { return w.b.Write(p) }

type response struct {
	*http.Response
	body []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response body %q is not JSON: %v", r.body, err)
	}
}

type apiError struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Field     string `json:"field"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

func (f *fixture) do(t *testing.T, method, path, user, body string, headers ...string) response {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
	if user != "" {
		r.Header.Set("Authorization", "Bearer token-"+user)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
		} else {
			r.Header.Set(headers[i], headers[i+1])
		}
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	return response{res, b}
}

func (f *fixture) jobsOf(t *testing.T, owner string) []jobs.Job {
	t.Helper()
	p, err := f.store.List(t.Context(), owner, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	return p.Jobs
}

func (f *fixture) submit(t *testing.T, user, body string, headers ...string) string {
	t.Helper()
	res := f.do(t, "POST", "/generate", user, body, headers...)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: status %d body %s", res.StatusCode, res.body)
	}
	var v struct {
		JobID string `json:"job_id"`
	}
	res.json(t, &v)
	return v.JobID
}

func TestBadRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	big := `{"prompt":"` + strings.Repeat("x", 300<<10) + `"}`
	tests := []struct {
		name    string
		method  string
		path    string
		user    string
		body    string
		headers []string
		status  int
		code    string
		field   string
	}{
		{"no token", "POST", "/generate", "", `{"prompt":"hi"}`, nil, 401, "unauthorized", ""},
		{"bad token", "POST", "/generate", "", `{"prompt":"hi"}`, []string{"Authorization", "Bearer forged"}, 401, "unauthorized", ""},
		{"not bearer", "POST", "/generate", "", `{"prompt":"hi"}`, []string{"Authorization", "Basic dTpw"}, 401, "unauthorized", ""},
		{"not JSON", "POST", "/generate", "alice", `prompt=hi`, nil, 400, "invalid_request", "body"},
		{"empty body", "POST", "/generate", "alice", ``, nil, 400, "invalid_request", "body"},
		{"form content type", "POST", "/generate", "alice", `{"prompt":"hi"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 400, "invalid_request", "Content-Type"},
		{"missing prompt", "POST", "/generate", "alice", `{"system":"s"}`, nil, 400, "invalid_request", "prompt"},
		{"blank prompt", "POST", "/generate", "alice", `{"prompt":"   "}`, nil, 400, "invalid_request", "prompt"},
		{"prompt too long", "POST", "/generate", "alice", `{"prompt":"` + strings.Repeat("x", 100_001) + `"}`, nil, 400, "invalid_request", "prompt"},
		{"system too long", "POST", "/generate", "alice", `{"prompt":"p","system":"` + strings.Repeat("s", 10_001) + `"}`, nil, 400, "invalid_request", "system"},
		{"max_tokens 0", "POST", "/generate", "alice", `{"prompt":"p","max_tokens":0}`, nil, 400, "invalid_request", "max_tokens"},
		{"max_tokens past the model's 128000", "POST", "/generate", "alice", `{"prompt":"p","max_tokens":128001}`, nil, 400, "invalid_request", "max_tokens"},
		{"temperature on a model that takes none", "POST", "/generate", "alice", `{"prompt":"p","temperature":0.5}`, nil, 400, "invalid_request", "temperature"},
		{"an effort the model does not take", "POST", "/generate", "alice", `{"prompt":"p","effort":"extreme"}`, nil, 400, "invalid_request", "effort"},
		{"max_tokens string", "POST", "/generate", "alice", `{"prompt":"p","max_tokens":"5"}`, nil, 400, "invalid_request", "max_tokens"},
		{"temperature 2", "POST", "/generate", "alice", `{"prompt":"p","temperature":2,"model":"` + haiku45 + `"}`, nil, 400, "invalid_request", "temperature"},
		{"model not allowed", "POST", "/generate", "alice", `{"prompt":"p","model":"x"}`, nil, 400, "invalid_request", "model"},
		{"unknown field", "POST", "/generate", "alice", `{"prompt":"p","n":2}`, nil, 400, "invalid_request", "n"},
		{"body over 256 KiB", "POST", "/generate", "alice", big, nil, 413, "payload_too_large", "body"},
		{"empty idempotency key", "POST", "/generate", "alice", `{"prompt":"p"}`, []string{"Idempotency-Key", " "}, 400, "invalid_request", "Idempotency-Key"},
		{"idempotency key too long", "POST", "/generate", "alice", `{"prompt":"p"}`, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "invalid_request", "Idempotency-Key"},
		{"GET /generate", "GET", "/generate", "alice", ``, nil, 405, "method_not_allowed", ""},
		{"unknown path", "GET", "/nope", "alice", ``, nil, 404, "not_found", ""},
		{"malformed job id", "GET", "/jobs/not-an-id", "alice", ``, nil, 404, "not_found", ""},
		{"missing job", "GET", "/jobs/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "alice", ``, nil, 404, "not_found", ""},
		{"cancel missing job", "POST", "/jobs/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/cancel", "alice", ``, nil, 404, "not_found", ""},
		{"limit 0", "GET", "/jobs?limit=0", "alice", ``, nil, 400, "invalid_request", "limit"},
		{"limit 101", "GET", "/jobs?limit=101", "alice", ``, nil, 400, "invalid_request", "limit"},
		{"limit word", "GET", "/jobs?limit=ten", "alice", ``, nil, 400, "invalid_request", "limit"},
		{"forged cursor", "GET", "/jobs?cursor=%21%21", "alice", ``, nil, 400, "invalid_request", "cursor"},
		{"cursor not URL encoding", "GET", "/jobs?cursor=%%%garbage", "alice", ``, nil, 400, "invalid_request", "cursor"},
		{"limit not URL encoding", "GET", "/jobs?limit=%zz&cursor=", "alice", ``, nil, 400, "invalid_request", "limit"},
		{"cursor twice", "GET", "/jobs?cursor=&cursor=", "alice", ``, nil, 400, "invalid_request", "cursor"},
		{"query key not URL encoding", "GET", "/jobs?%zz=1", "alice", ``, nil, 400, "invalid_request", "query"},
		{"batch not JSON", "POST", "/generate/batch", "alice", `{`, nil, 400, "invalid_request", "body"},
		{"batch empty", "POST", "/generate/batch", "alice", `{"requests":[]}`, nil, 400, "invalid_request", "requests"},
		{"batch too many", "POST", "/generate/batch", "alice", `{"requests":[` + strings.Repeat(`{"prompt":"p"},`, 100) + `{"prompt":"p"}]}`, nil, 400, "invalid_request", "requests"},
		{"batch unknown field", "POST", "/generate/batch", "alice", `{"requests":[{"prompt":"p"}],"x":1}`, nil, 400, "invalid_request", "x"},
		{"batch with header key", "POST", "/generate/batch", "alice", `{"requests":[{"prompt":"p"}]}`, []string{"Idempotency-Key", "k"}, 400, "invalid_request", "Idempotency-Key"},
		{"batch on the economy lane where it is off", "POST", "/generate/batch", "alice", `{"requests":[{"prompt":"p"}],"lane":"economy"}`, nil, 400, "invalid_request", "lane"},
		{"batch with economy_fallback on bulk", "POST", "/generate/batch", "alice", `{"requests":[{"prompt":"p"}],"economy_fallback":true}`, nil, 400, "invalid_request", "economy_fallback"},
		{"economy lane on POST /generate", "POST", "/generate", "alice", `{"prompt":"p","lane":"economy"}`, nil, 400, "invalid_request", "lane"},
		{"a response_format that is not an object", "POST", "/generate", "alice", `{"prompt":"p","response_format":"json"}`, nil, 400, "invalid_request", "response_format"},
		{"a schema that does not compile", "POST", "/generate", "alice", `{"prompt":"p","response_format":{"type":"json_schema","schema":{"type":"objekt"}}}`, nil, 400, "invalid_request", "response_format.schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			res := f.do(t, tt.method, tt.path, tt.user, tt.body, tt.headers...)
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", res.StatusCode, tt.status, res.body)
			}
			var e apiError
			res.json(t, &e)
			if e.Error.Code != tt.code || e.Error.Field != tt.field || e.Error.Message == "" {
				t.Errorf("error = %+v, want code %q field %q and a message", e.Error, tt.code, tt.field)
			}
			if tt.field != "" && tt.field != "body" && !strings.Contains(e.Error.Message, tt.field) {
				t.Errorf("message %q does not name the field %q", e.Error.Message, tt.field)
			}
			if tt.status == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
			if n := len(f.jobsOf(t, "alice")); n != 0 {
				t.Errorf("%d jobs stored after a %d", n, tt.status)
			}
			if n := len(f.queue.Sent()); n != 0 {
				t.Errorf("%d messages queued after a %d", n, tt.status)
			}
		})
	}
}

func TestSubmitPollListCancel(t *testing.T) {
	t.Parallel()
	f := setup(t)
	res := f.do(t, "POST", "/generate", "alice", `{"prompt":"Write a haiku about queues","max_tokens":64,"effort":"low"}`)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d: %s", res.StatusCode, res.body)
	}
	var acc struct {
		JobID     string `json:"job_id"`
		Status    string `json:"status"`
		CreatedAt string `json:"created_at"`
	}
	res.json(t, &acc)
	if acc.Status != "queued" || !jobs.ValidID(acc.JobID) || acc.CreatedAt == "" {
		t.Errorf("accepted = %+v", acc)
	}
	if loc := res.Header.Get("Location"); loc != "/jobs/"+acc.JobID {
		t.Errorf("Location = %q", loc)
	}
	sent := f.queue.Sent()
	if len(sent) != 1 || sent[0].JobID != acc.JobID || sent[0].Owner != "alice" || sent[0].Lane != jobs.LaneInteractive {
		t.Errorf("queued %+v, want one message for the job, on the interactive lane", sent)
	}

	res = f.do(t, "GET", "/jobs/"+acc.JobID, "alice", "")
	if res.StatusCode != 200 || res.Header.Get("Retry-After") != "2" {
		t.Fatalf("poll: status %d Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	var job map[string]any
	res.json(t, &job)
	for _, k := range []string{"job_id", "status", "prompt", "model", "generated_text", "tokens", "created_at", "updated_at"} {
		if _, ok := job[k]; !ok {
			t.Errorf("job lacks %q: %s", k, res.body)
		}
	}
	if job["prompt"] != "Write a haiku about queues" || job["model"] != jobs.DefaultModel {
		t.Errorf("job = %s", res.body)
	}

	// Another user cannot tell the job exists.
	if res := f.do(t, "GET", "/jobs/"+acc.JobID, "mallory", ""); res.StatusCode != 404 {
		t.Errorf("other user's GET = %d, want 404", res.StatusCode)
	}
	if res := f.do(t, "POST", "/jobs/"+acc.JobID+"/cancel", "mallory", ""); res.StatusCode != 404 {
		t.Errorf("other user's cancel = %d, want 404", res.StatusCode)
	}
	var list struct{ Jobs []map[string]any }
	f.do(t, "GET", "/jobs", "mallory", "").json(t, &list)
	if len(list.Jobs) != 0 {
		t.Errorf("other user's list has %d jobs", len(list.Jobs))
	}

	res = f.do(t, "POST", "/jobs/"+acc.JobID+"/cancel", "alice", "")
	if res.StatusCode != 200 {
		t.Fatalf("cancel: %d %s", res.StatusCode, res.body)
	}
	res = f.do(t, "GET", "/jobs/"+acc.JobID, "alice", "")
	res.json(t, &job)
	if job["status"] != "cancelled" || res.Header.Get("Retry-After") != "" {
		t.Errorf("after cancel: status %v, Retry-After %q", job["status"], res.Header.Get("Retry-After"))
	}
	res = f.do(t, "POST", "/jobs/"+acc.JobID+"/cancel", "alice", "")
	var e apiError
	res.json(t, &e)
	if res.StatusCode != 409 || e.Error.Code != "conflict" {
		t.Errorf("second cancel = %d %s, want 409 conflict", res.StatusCode, res.body)
	}
}

func TestListIsNewestFirstWithCursor(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, f.submit(t, "alice", `{"prompt":"p`+string(rune('a'+i))+`"}`))
	}
	var seen []string
	cursor := ""
	for range 3 {
		res := f.do(t, "GET", "/jobs?limit=2&cursor="+cursor, "alice", "")
		var page struct {
			Jobs []struct {
				JobID string `json:"job_id"`
			} `json:"jobs"`
			NextCursor string `json:"next_cursor"`
		}
		res.json(t, &page)
		for _, j := range page.Jobs {
			seen = append(seen, j.JobID)
		}
		cursor = page.NextCursor
		if cursor == "" {
			break
		}
	}
	if len(seen) != 5 {
		t.Fatalf("saw %d jobs over the pages, want 5", len(seen))
	}
	for i := range seen {
		if seen[i] != ids[len(ids)-1-i] {
			t.Errorf("page order %v, want newest first %v", seen, ids)
			break
		}
	}
}

func TestListPreviewsLongText(t *testing.T) {
	t.Parallel()
	f := setup(t)
	long := strings.Repeat("long prompt ", 100)
	id := f.submit(t, "alice", `{"prompt":"`+long+`"}`)
	var page struct {
		Jobs []struct {
			Prompt    string `json:"prompt"`
			Truncated bool   `json:"truncated"`
		} `json:"jobs"`
	}
	f.do(t, "GET", "/jobs", "alice", "").json(t, &page)
	if len(page.Jobs) != 1 || !page.Jobs[0].Truncated || len(page.Jobs[0].Prompt) >= len(long) {
		t.Errorf("listing = %+v, want a truncated preview", page.Jobs)
	}
	var job struct{ Prompt string }
	f.do(t, "GET", "/jobs/"+id, "alice", "").json(t, &job)
	if job.Prompt != long {
		t.Error("GET /jobs/{id} does not have the whole prompt")
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	first := f.submit(t, "alice", `{"prompt":"once"}`, "Idempotency-Key", "k-1")
	res := f.do(t, "POST", "/generate", "alice", `{"prompt":"once"}`, "Idempotency-Key", "k-1")
	var again struct {
		JobID string `json:"job_id"`
	}
	res.json(t, &again)
	if res.StatusCode != 202 || again.JobID != first || res.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry = %d %s, want 202 with the original job", res.StatusCode, res.body)
	}
	// The job's message went out a moment ago: the replay sends nothing
	// (internal/submit has the rules of when a replay sends again).
	if sent := f.queue.Sent(); len(sent) != 1 {
		t.Errorf("queued %+v, want the one job's message once", sent)
	}

	res = f.do(t, "POST", "/generate", "alice", `{"prompt":"twice"}`, "Idempotency-Key", "k-1")
	var e apiError
	res.json(t, &e)
	if res.StatusCode != 409 || e.Error.Code != "conflict" || e.Error.Field != "Idempotency-Key" {
		t.Errorf("reused key = %d %s, want 409 naming Idempotency-Key", res.StatusCode, res.body)
	}
	if n := len(f.jobsOf(t, "alice")); n != 1 {
		t.Errorf("%d jobs, want 1", n)
	}

	// Keys are per user: bob's k-1 is his own.
	if bobs := f.submit(t, "bob", `{"prompt":"once"}`, "Idempotency-Key", "k-1"); bobs == first {
		t.Error("bob got alice's job for the same key")
	}
}

func TestQueueFailureLeavesNoQueuedOrphan(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.queue.SetErrFunc(func(jobs.Message) error { return errors.New("sqs: connection reset; queue https://sqs.secret/123") })
	res := f.do(t, "POST", "/generate", "alice", `{"prompt":"p"}`, "Idempotency-Key", "k")
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q, want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if strings.Contains(string(res.body), "sqs") {
		t.Errorf("response leaks the cause: %s", res.body)
	}
	js := f.jobsOf(t, "alice")
	if len(js) != 1 || js[0].Status != jobs.StatusFailed || js[0].Failure == nil || js[0].Failure.Code != jobs.FailureEnqueue {
		t.Fatalf("jobs = %+v, want one failed with enqueue_failed", js)
	}

	// The key is free again: a retry makes a new job that runs.
	f.queue.SetErrFunc(nil)
	id := f.submit(t, "alice", `{"prompt":"p"}`, "Idempotency-Key", "k")
	if id == js[0].ID {
		t.Error("the retry got the abandoned job back")
	}
}

type failingStore struct{ *inmem.Store }

func (failingStore) Get(context.Context, string, string) (jobs.Job, error) {
	return jobs.Job{}, errors.New("dynamodb: AccessDeniedException: arn:aws:dynamodb:us-east-1:123456789012:table/jobs")
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	t.Parallel()
	f := setup(t, func(e *env) { e.deps.Store = failingStore{inmem.NewStore(inmem.Options{})} })
	res := f.do(t, "GET", "/jobs/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "alice", "")
	var e apiError
	res.json(t, &e)
	if res.StatusCode != 500 || e.Error.Code != "internal" || e.Error.RequestID == "" {
		t.Errorf("got %d %s, want 500 internal with a request id", res.StatusCode, res.body)
	}
	if strings.Contains(string(res.body), "arn:") || strings.Contains(string(res.body), "dynamodb") {
		t.Errorf("500 leaks internals: %s", res.body)
	}
	// The cause is logged with the request id the client was given, so
	// a report of the id finds it.
	logged := false
	for line := range strings.Lines(f.logs.String()) {
		if strings.Contains(line, `"request_id":"`+e.Error.RequestID+`"`) && strings.Contains(line, "AccessDeniedException") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no log line carries the request id %q and the cause:\n%s", e.Error.RequestID, f.logs.String())
	}
}

func TestLogsCarryNoPromptOrToken(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.submit(t, "alice", `{"prompt":"my secret business plan"}`)
	f.do(t, "GET", "/jobs/"+id, "alice", "")
	logs := f.logs.String()
	if strings.Contains(logs, "secret business") || strings.Contains(logs, "token-alice") {
		t.Errorf("logs carry a prompt or token: %s", logs)
	}
	if !strings.Contains(logs, id) || !strings.Contains(logs, `"user":"alice"`) {
		t.Errorf("logs lack job id or user: %s", logs)
	}
}

type countingRevoker struct {
	calls int
	err   error
}

func (c *countingRevoker) Check(context.Context, string) error { c.calls++; return c.err }

func TestRevocationIsCheckedOnlyWhereMoneyIsSpent(t *testing.T) {
	t.Parallel()
	rev := &countingRevoker{}
	f := setup(t, func(e *env) { e.deps.Revoke = rev })
	id := f.submit(t, "alice", `{"prompt":"p"}`)
	f.do(t, "GET", "/jobs/"+id, "alice", "")
	f.do(t, "GET", "/jobs", "alice", "")
	if rev.calls != 1 {
		t.Errorf("revocation checked %d times, want once (POST /generate only)", rev.calls)
	}
	rev.err = &jobs.Error{Kind: jobs.KindUnauthorized, Message: "The access token has been revoked."}
	res := f.do(t, "POST", "/generate", "alice", `{"prompt":"p"}`)
	if res.StatusCode != 401 {
		t.Errorf("revoked token: %d, want 401", res.StatusCode)
	}
	if n := len(f.queue.Sent()); n != 1 {
		t.Errorf("%d messages queued, want only the first", n)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	f := setup(t)
	res := f.do(t, "OPTIONS", "/generate", "", "", "Origin", webOrigin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type")
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != webOrigin ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
	}
	res = f.do(t, "OPTIONS", "/generate", "", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin allowed: %v", res.Header)
	}
	res = f.do(t, "GET", "/jobs", "alice", "", "Origin", webOrigin)
	if res.Header.Get("Access-Control-Allow-Origin") != webOrigin || !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("simple request: %v", res.Header)
	}
	if _, err := httpapi.New(httpapi.Config{Limits: jobs.DefaultLimits(), AllowedOrigins: []string{"*"}},
		httpapi.Deps{Store: f.store, Submit: nopSubmitter{}, Auth: testAuth}); err == nil {
		t.Error(`AllowedOrigins "*" accepted`)
	}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	f := setup(t)
	body := `{"requests":[
		{"prompt":"one","idempotency_key":"line-1"},
		{"prompt":""},
		{"prompt":"three","max_tokens":999999},
		{"prompt":"four","idempotency_key":"line-4"}
	]}`
	res := f.do(t, "POST", "/generate/batch", "alice", body)
	if res.StatusCode != 202 {
		t.Fatalf("status %d %s", res.StatusCode, res.body)
	}
	var out struct {
		Results []struct {
			JobID  string `json:"job_id"`
			Status string `json:"status"`
			Error  *struct{ Code, Field string }
		} `json:"results"`
	}
	res.json(t, &out)
	if len(out.Results) != 4 {
		t.Fatalf("%d results, want 4", len(out.Results))
	}
	if out.Results[0].JobID == "" || out.Results[3].JobID == "" || out.Results[0].Status != "queued" {
		t.Errorf("valid entries not queued: %s", res.body)
	}
	if out.Results[1].Error == nil || out.Results[1].Error.Field != "prompt" || out.Results[2].Error == nil || out.Results[2].Error.Field != "max_tokens" {
		t.Errorf("invalid entries not reported in place: %s", res.body)
	}
	if n := len(f.queue.Sent()); n != 2 {
		t.Errorf("%d queued, want 2", n)
	}
	// Re-sending the batch creates nothing new for the keyed entries.
	res = f.do(t, "POST", "/generate/batch", "alice", `{"requests":[{"prompt":"one","idempotency_key":"line-1"}]}`)
	var again struct {
		Results []struct {
			JobID    string `json:"job_id"`
			Replayed bool   `json:"idempotent_replayed"`
		} `json:"results"`
	}
	res.json(t, &again)
	if again.Results[0].JobID != out.Results[0].JobID || !again.Results[0].Replayed {
		t.Errorf("re-sent entry = %s, want the original job", res.body)
	}
	if n := len(f.queue.Sent()); n != 2 {
		t.Errorf("queued %+v after re-send, want no more messages: the job's went out a moment ago", f.queue.Sent())
	}
}

// TestReplayQueuesAJobWhoseFirstSendNeverHappened: the API stored the job,
// then died (or timed out) before SendMessage, and answered the client with
// an error. The client's retry with the same key, once the resend
// threshold has passed, must get the job running.
func TestReplayQueuesAJobWhoseFirstSendNeverHappened(t *testing.T) {
	t.Parallel()
	f := setup(t)
	req, err := jobs.DecodeRequest([]byte(`{"prompt":"stranded"}`), jobs.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	stranded, _, err := f.store.Create(t.Context(), jobs.Job{ID: jobs.NewID(), Owner: "alice", Prompt: req.Prompt,
		Model: req.Model, MaxTokens: req.MaxTokens, IdempotencyKey: "k"}, req.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(submit.DefaultResendAfter)
	id := f.submit(t, "alice", `{"prompt":"stranded"}`, "Idempotency-Key", "k")
	if id != stranded.ID {
		t.Fatalf("retry got job %s, want the stored %s", id, stranded.ID)
	}
	if sent := f.queue.Sent(); len(sent) != 1 || sent[0].JobID != stranded.ID {
		t.Errorf("queued %+v, want the stranded job's message", sent)
	}
}

func TestRequestsOverTheDailyBudgetAre429AndChangeNothing(t *testing.T) {
	t.Parallel()
	// The first submission of the day, bigger than the budget by itself.
	f := setup(t, func(e *env) { e.budgets = jobs.Budgets{TokensPerDay: 1000} })
	for _, path := range []string{"/generate", "/generate/batch"} {
		body := `{"prompt":"p"}` // max_tokens 1024 by default
		if path == "/generate/batch" {
			body = `{"requests":[{"prompt":"p"}]}`
		}
		res := f.do(t, "POST", path, "alice", body)
		var e apiError
		res.json(t, &e)
		if res.StatusCode != 429 || e.Error.Code != "rate_limited" || e.Error.Field != "tokens_per_day" ||
			res.Header.Get("Retry-After") == "" || !strings.Contains(e.Error.Message, "daily budget of 1000 tokens") {
			t.Errorf("%s: %d %s Retry-After %q", path, res.StatusCode, res.body, res.Header.Get("Retry-After"))
		}
	}
	if len(f.jobsOf(t, "alice")) != 0 || len(f.queue.Sent()) != 0 {
		t.Error("a rate-limited request stored or queued a job")
	}
	if u := f.usage(t, "alice"); u.Tokens.Reserved != 0 || u.Jobs.Active != 0 {
		t.Errorf("a refused request reserved %+v", u)
	}
}

// usageBody is GET /usage as a client reads it.
type usageBody struct {
	Day      string `json:"day"`
	ResetsAt string `json:"resets_at"`
	Tokens   struct {
		Charged  int `json:"charged"`
		Reserved int `json:"reserved"`
	} `json:"tokens"`
	ByModel []struct {
		Model       string   `json:"model"`
		Name        string   `json:"name"`
		Input       int      `json:"input"`
		Output      int      `json:"output"`
		CacheRead   int      `json:"cache_read"`
		CacheWrite  int      `json:"cache_write"`
		CostUSD     *float64 `json:"cost_usd"`
		Economy     bool     `json:"economy"`
		LongContext bool     `json:"long_context"`
	} `json:"by_model"`
	EstimatedCostUSD float64 `json:"estimated_cost_usd"`
	Jobs             struct {
		Active int  `json:"active"`
		Cap    *int `json:"cap"`
	} `json:"jobs"`
	Budget *struct {
		TokensPerDay int `json:"tokens_per_day"`
		Remaining    int `json:"remaining"`
	} `json:"budget"`
}

func (f *fixture) usage(t *testing.T, user string) usageBody {
	t.Helper()
	res := f.do(t, "GET", "/usage", user, "")
	if res.StatusCode != 200 {
		t.Fatalf("GET /usage = %d %s", res.StatusCode, res.body)
	}
	var u usageBody
	res.json(t, &u)
	return u
}

func TestReplaysReserveNothingMore(t *testing.T) {
	t.Parallel()
	f := setup(t, func(e *env) { e.budgets = jobs.Budgets{TokensPerDay: 10_000, ActiveJobs: 5} })
	f.submit(t, "alice", `{"prompt":"12345678","max_tokens":10}`, "Idempotency-Key", "k")
	f.submit(t, "alice", `{"prompt":"12345678","max_tokens":10}`, "Idempotency-Key", "k")
	want := 8 + jobs.InputFramingTokens + 10 // the prompt's bytes, the framing, max_tokens
	u := f.usage(t, "alice")
	if u.Tokens.Reserved != want || u.Jobs.Active != 1 || u.Budget == nil || u.Budget.Remaining != 10_000-want {
		t.Errorf("usage after a job and its replay = %+v, want %d tokens reserved once and one active job", u, want)
	}
}

// GET /usage shows the caller's own counters: what the model charged by
// model (prompt-cache tokens too) and its cost at the catalogue's prices,
// what is still reserved, the budget and the cap; another user's usage
// never.
func TestUsageIsTheCallersOwn(t *testing.T) {
	t.Parallel()
	f := setup(t, func(e *env) { e.budgets = jobs.Budgets{TokensPerDay: 100_000, ActiveJobs: 5} })
	id := f.submit(t, "alice", `{"prompt":"hello","max_tokens":100}`)
	f.submit(t, "alice", `{"prompt":"hello","max_tokens":100}`)
	j, err := f.store.Claim(t.Context(), "alice", id, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	used := jobs.Tokens{Input: 1000, Output: 2000, CacheRead: 10_000, CacheWrite: 800}
	if err := f.store.Charge(t.Context(), j, used); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Finish(t.Context(), "alice", id, j.Attempts, jobs.Progress{Tokens: used}); err != nil {
		t.Fatal(err)
	}
	worst := 5 + jobs.InputFramingTokens + 100
	u := f.usage(t, "alice")
	if u.Tokens.Charged != 13_800 || u.Tokens.Reserved != worst || u.Jobs.Active != 1 || u.Jobs.Cap == nil || *u.Jobs.Cap != 5 ||
		u.Budget == nil || u.Budget.Remaining != 100_000-13_800-worst || len(u.ByModel) != 1 {
		t.Errorf("alice's usage = %+v", u)
	}
	// Claude Haiku 5.5 at $0.10 and $0.50 per million input and output
	// tokens, $0.01 per million read from the cache and $0.125 written
	// to it.
	if m := u.ByModel[0]; m.Model != jobs.DefaultModel || m.Name != "Claude Haiku 5.5" ||
		m.Input != 1000 || m.Output != 2000 || m.CacheRead != 10_000 || m.CacheWrite != 800 ||
		m.CostUSD == nil || *m.CostUSD != 0.0013 || u.EstimatedCostUSD != 0.0013 {
		t.Errorf("alice's usage by model = %+v, estimated cost %v; want $0.0013", u.ByModel, u.EstimatedCostUSD)
	}
	if u.Day != f.clock.Now().UTC().Format(time.DateOnly) || u.ResetsAt == "" {
		t.Errorf("day %q resets at %q", u.Day, u.ResetsAt)
	}
	b := f.usage(t, "bob")
	if b.Tokens.Charged != 0 || b.Tokens.Reserved != 0 || b.Jobs.Active != 0 || len(b.ByModel) != 0 {
		t.Errorf("bob sees %+v, want nothing of alice's", b)
	}
	if res := f.do(t, "GET", "/usage", "", ""); res.StatusCode != 401 {
		t.Errorf("GET /usage without a token = %d", res.StatusCode)
	}
}

func TestErrorMessagesAreReadableInATerminal(t *testing.T) {
	t.Parallel()
	f := setup(t)
	res := f.do(t, "GET", "/jobs", "", "")
	if !strings.Contains(string(res.body), "Bearer <access token>") {
		t.Errorf("body %s escapes the angle brackets", res.body)
	}
}

type nopSubmitter struct{}

func (nopSubmitter) Submit(context.Context, string, []submit.Entry) ([]submit.Result, error) {
	return nil, errors.New("not used")
}

func TestLanes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	lane := func(id string) string {
		t.Helper()
		var j struct{ Lane string }
		f.do(t, "GET", "/jobs/"+id, "alice", "").json(t, &j)
		return j.Lane
	}

	res := f.do(t, "POST", "/generate", "alice", `{"prompt":"p"}`)
	var acc struct {
		JobID string `json:"job_id"`
		Lane  string `json:"lane"`
	}
	res.json(t, &acc)
	if acc.Lane != "interactive" || lane(acc.JobID) != "interactive" {
		t.Errorf("POST /generate without a lane: 202 says %q, the job %q; want interactive", acc.Lane, lane(acc.JobID))
	}
	bulk := f.submit(t, "alice", `{"prompt":"p","lane":"bulk"}`)
	if lane(bulk) != "bulk" {
		t.Errorf(`POST /generate with "lane":"bulk": the job's lane is %q`, lane(bulk))
	}

	res = f.do(t, "POST", "/generate/batch", "alice", `{"requests":[{"prompt":"a"},{"prompt":"b"}]}`)
	var out struct {
		Lane    string
		Results []struct {
			JobID string `json:"job_id"`
		}
	}
	res.json(t, &out)
	if res.StatusCode != 202 || out.Lane != "bulk" || lane(out.Results[0].JobID) != "bulk" {
		t.Errorf("batch: %d %s, want its jobs on the bulk lane", res.StatusCode, res.body)
	}
	if got := f.do(t, "POST", "/generate/batch", "alice", `{"lane":"bulk","requests":[{"prompt":"a"}]}`); got.StatusCode != 202 {
		t.Errorf(`batch with "lane":"bulk": %d %s`, got.StatusCode, got.body)
	}
	for _, m := range f.queue.Sent() {
		if want := jobs.LaneBulk; m.JobID != acc.JobID && m.Lane != want {
			t.Errorf("message %+v is not on the bulk lane", m)
		}
	}

	// Bad lanes are refused, naming the field, and change nothing.
	before := len(f.jobsOf(t, "alice"))
	for _, tt := range []struct{ path, body string }{
		{"/generate", `{"prompt":"p","lane":"fast"}`},
		{"/generate", `{"prompt":"p","lane":3}`},
		{"/generate/batch", `{"lane":"interactive","requests":[{"prompt":"a"}]}`},
		{"/generate/batch", `{"lane":"fast","requests":[{"prompt":"a"}]}`},
	} {
		res := f.do(t, "POST", tt.path, "alice", tt.body)
		var e apiError
		res.json(t, &e)
		if res.StatusCode != 400 || e.Error.Field != "lane" {
			t.Errorf("%s %s: %d %s, want 400 naming lane", tt.path, tt.body, res.StatusCode, res.body)
		}
	}
	res = f.do(t, "POST", "/generate/batch", "alice", `{"requests":[{"prompt":"a","lane":"bulk"}]}`)
	var entry struct {
		Results []struct{ Error *struct{ Field string } }
	}
	res.json(t, &entry)
	if res.StatusCode != 202 || entry.Results[0].Error == nil || entry.Results[0].Error.Field != "lane" {
		t.Errorf("a lane inside a batch entry: %d %s, want the entry refused naming lane", res.StatusCode, res.body)
	}
	if after := len(f.jobsOf(t, "alice")); after != before {
		t.Errorf("bad lanes stored %d jobs", after-before)
	}
}

type requestLimiterFunc func(owner string) error

func (f requestLimiterFunc) AllowRequest(_ context.Context, owner string) error { return f(owner) }

// Requests that create jobs are held to each user's rate by the exact,
// table-wide count (Deps.Requests); reads are not counted there at all.
func TestTheRequestRateOfSubmissionsRefusesOnlyTheUserOverIt(t *testing.T) {
	t.Parallel()
	var counted atomic.Int64
	f := setup(t, func(e *env) {
		e.deps.Requests = requestLimiterFunc(func(owner string) error {
			counted.Add(1)
			switch owner {
			case "greedy":
				return &jobs.Error{Kind: jobs.KindRateLimited, Field: "requests_per_second", RetryAfterSeconds: 4,
					Message: "You have sent more than 100 requests in 10 seconds."}
			case "unlucky":
				return errors.New("dynamodb: throttled")
			}
			return nil
		})
	})
	for _, route := range []struct{ method, path, body string }{
		{"POST", "/generate", `{"prompt":"p"}`},
		{"POST", "/generate/batch", `{"requests":[{"prompt":"p"}]}`},
	} {
		res := f.do(t, route.method, route.path, "greedy", route.body)
		var e apiError
		res.json(t, &e)
		if res.StatusCode != 429 || res.Header.Get("Retry-After") != "4" || e.Error.Field != "requests_per_second" {
			t.Errorf("%s %s over the rate: %d Retry-After %q %s", route.method, route.path, res.StatusCode, res.Header.Get("Retry-After"), res.body)
		}
	}
	if len(f.jobsOf(t, "greedy")) != 0 {
		t.Error("a refused submission stored a job")
	}
	before := counted.Load()
	for range 5 {
		if res := f.do(t, "GET", "/jobs", "greedy", ""); res.StatusCode != 200 {
			t.Errorf("a read of a user over the submissions' rate: %d %s", res.StatusCode, res.body)
		}
	}
	if counted.Load() != before {
		t.Errorf("reads were counted in the table: %d writes for 5 GETs", counted.Load()-before)
	}
	if res := f.do(t, "POST", "/generate", "alice", `{"prompt":"p"}`); res.StatusCode != 202 {
		t.Errorf("another user: %d %s", res.StatusCode, res.body)
	}
	// A counter that can't be written does not refuse the request.
	if res := f.do(t, "POST", "/generate", "unlucky", `{"prompt":"p"}`); res.StatusCode != 202 {
		t.Errorf("the counter failed and the request was refused: %d %s", res.StatusCode, res.body)
	}
	if !strings.Contains(f.logs.String(), "request rate not counted") {
		t.Error("the failed count was not logged")
	}
}

// Reads (polls, listings, usage) are held to each user's rate in the
// instance's memory: a client hammering GET is refused once its burst is
// spent, at once and with a Retry-After, while other users read on, and
// its allowance comes back at the rate.
func TestAClientHammeringReadsGets429Quickly(t *testing.T) {
	t.Parallel()
	f := setup(t, func(e *env) { e.cfg.ReadsPerSecond = 10 })
	refusedAt := 0
	for i := 1; i <= 150; i++ {
		res := f.do(t, "GET", "/jobs", "greedy", "")
		if res.StatusCode == 429 {
			var e apiError
			res.json(t, &e)
			if res.Header.Get("Retry-After") != "1" || e.Error.Field != "requests_per_second" {
				t.Errorf("refused read: Retry-After %q, %s", res.Header.Get("Retry-After"), res.body)
			}
			refusedAt = i
			break
		}
	}
	// The clock stands still: a burst of ten seconds' worth, then no more.
	if refusedAt != 101 {
		t.Errorf("the first refusal came at read %d, want 101 (a burst of 100)", refusedAt)
	}
	if res := f.do(t, "GET", "/jobs", "alice", ""); res.StatusCode != 200 {
		t.Errorf("another user: %d", res.StatusCode)
	}
	f.clock.Advance(time.Second)
	for i := range 10 {
		if res := f.do(t, "GET", "/jobs", "greedy", ""); res.StatusCode != 200 {
			t.Errorf("read %d a second later: %d, want 10 allowed", i+1, res.StatusCode)
		}
	}
	if res := f.do(t, "GET", "/jobs", "greedy", ""); res.StatusCode != 429 {
		t.Errorf("an eleventh read in that second: %d, want 429", res.StatusCode)
	}
}

// countingWatcher counts the marks the handler writes.
type countingWatcher struct {
	store *inmem.Store
	n     atomic.Int64
}

func (w *countingWatcher) Watch(ctx context.Context, owner, id string, until time.Time) error {
	w.n.Add(1)
	return w.store.Watch(ctx, owner, id, until)
}

// A poll of a job marks it watched, so that its worker writes the text as
// it comes; polls within half the mark write nothing more; an interactive
// job is marked as a bulk one is (jobs.Job.Watched).
func TestPollingAJobMarksItWatched(t *testing.T) {
	t.Parallel()
	marks := &countingWatcher{}
	var clock *storetest.Clock
	f := setup(t, func(e *env) {
		e.deps.Watch = marks
		e.cfg.Now = func() time.Time { return clock.Now() }
	})
	clock, marks.store = f.clock, f.store
	bulk := f.submit(t, "alice", `{"prompt":"hello","lane":"bulk"}`)
	poll := func(id string) {
		t.Helper()
		if res := f.do(t, "GET", "/jobs/"+id, "alice", ""); res.StatusCode != 200 {
			t.Fatalf("GET /jobs/%s = %d %s", id, res.StatusCode, res.body)
		}
	}
	poll(bulk)
	if j, _ := f.store.Get(t.Context(), "alice", bulk); marks.n.Load() != 1 || !j.WatchedUntil.Equal(clock.Now().Add(jobs.WatchFor)) {
		t.Fatalf("after a poll: %d marks, watched until %v, want 1 mark until a minute from now", marks.n.Load(), j.WatchedUntil)
	}
	clock.Advance(jobs.WatchFor/2 - time.Second)
	poll(bulk)
	if marks.n.Load() != 1 {
		t.Errorf("a poll within half the mark wrote it again (%d marks)", marks.n.Load())
	}
	clock.Advance(2 * time.Second)
	poll(bulk)
	if marks.n.Load() != 2 {
		t.Errorf("a poll past half the mark did not renew it (%d marks)", marks.n.Load())
	}
	poll(f.submit(t, "alice", `{"prompt":"hello"}`))
	if marks.n.Load() != 3 {
		t.Errorf("an interactive job's poll wrote %d marks in all, want 3: it is marked as any other", marks.n.Load())
	}
	if res := f.do(t, "GET", "/jobs/"+bulk, "bob", ""); res.StatusCode != 404 || marks.n.Load() != 3 {
		t.Errorf("another user's poll: %d, %d marks", res.StatusCode, marks.n.Load())
	}
}

// A running job's poll is told when its worker writes more of the text
// (text_due_in_ms), so it can ask just after, in step with the writes;
// not when that write is past (nothing new came) or far off.
func TestAPollIsToldWhenTheNextWriteIsDue(t *testing.T) {
	t.Parallel()
	var clock *storetest.Clock
	f := setup(t, func(e *env) { e.cfg.Now = func() time.Time { return clock.Now() } })
	clock = f.clock
	id := f.submit(t, "alice", `{"prompt":"hello"}`)
	dueIn := func() *int64 {
		t.Helper()
		res := f.do(t, "GET", "/jobs/"+id, "alice", "")
		var v struct {
			TextDueInMS *int64 `json:"text_due_in_ms"`
		}
		if res.StatusCode != 200 || json.Unmarshal([]byte(res.body), &v) != nil {
			t.Fatalf("GET = %d %s", res.StatusCode, res.body)
		}
		return v.TextDueInMS
	}
	if got := dueIn(); got != nil {
		t.Errorf("a queued job: text due in %d ms, want no hint", *got)
	}
	j, err := f.store.Claim(t.Context(), "alice", id, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	write := func(due time.Duration) {
		t.Helper()
		p := jobs.Progress{GeneratedText: "so far", TextDueAt: clock.Now().Add(due)}
		if err := f.store.SaveProgress(t.Context(), "alice", id, j.Attempts, p, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	write(jobs.WatchedFlushInterval)
	clock.Advance(500 * time.Millisecond)
	if got, want := dueIn(), (jobs.WatchedFlushInterval - 500*time.Millisecond).Milliseconds(); got == nil || *got != want {
		t.Errorf("text due in %v ms, want %d", got, want)
	}
	clock.Advance(jobs.WatchedFlushInterval)
	if got := dueIn(); got != nil {
		t.Errorf("a write past due: text due in %d ms, want no hint", *got)
	}
	write(jobs.UnwatchedFlushInterval)
	if got := dueIn(); got != nil {
		t.Errorf("a write far off: text due in %d ms, want no hint", *got)
	}
}

// A queued job's Retry-After says when its lane will look at it again:
// the usual 2 s, or as long as the lane put it off (up to a minute).
func TestRetryAfterFollowsWhenTheLaneLooksAtTheJobAgain(t *testing.T) {
	t.Parallel()
	var clock *storetest.Clock
	f := setup(t, func(e *env) { e.cfg.Now = func() time.Time { return clock.Now() } })
	clock = f.clock
	id := f.submit(t, "alice", `{"prompt":"hello","lane":"bulk"}`)
	retryAfter := func() string {
		t.Helper()
		res := f.do(t, "GET", "/jobs/"+id, "alice", "")
		if res.StatusCode != 200 {
			t.Fatalf("GET = %d %s", res.StatusCode, res.body)
		}
		return res.Header.Get("Retry-After")
	}
	if got := retryAfter(); got != "2" {
		t.Errorf("a job just queued: Retry-After %q, want 2", got)
	}
	for _, tt := range []struct {
		put  time.Duration
		want string
	}{{17 * time.Second, "17"}, {time.Second, "2"}, {10 * time.Minute, "60"}} {
		if err := f.store.SentBack(t.Context(), "alice", id, jobs.Wait{Reason: jobs.WaitFairShare, After: tt.put}); err != nil {
			t.Fatal(err)
		}
		if got := retryAfter(); got != tt.want {
			t.Errorf("put off for %v: Retry-After %q, want %s", tt.put, got, tt.want)
		}
	}
	clock.Advance(11 * time.Minute)
	if got := retryAfter(); got != "2" {
		t.Errorf("once its message is back: Retry-After %q, want 2", got)
	}
}

func TestEconomyBatch(t *testing.T) {
	t.Parallel()
	f := setup(t, func(e *env) { e.cfg.Economy = true })
	res := f.do(t, "POST", "/generate/batch", "alice", `{"lane":"economy","economy_fallback":true,"requests":[{"prompt":"one"},{"prompt":"two"}]}`)
	if res.StatusCode != 202 {
		t.Fatalf("status %d %s", res.StatusCode, res.body)
	}
	var out struct {
		Lane    string `json:"lane"`
		Results []struct {
			JobID string `json:"job_id"`
		} `json:"results"`
	}
	res.json(t, &out)
	if out.Lane != "economy" || len(out.Results) != 2 {
		t.Fatalf("answer %s", res.body)
	}
	sent := f.queue.Sent()
	if len(sent) != 2 || sent[0].Lane != jobs.LaneEconomy || sent[1].Lane != jobs.LaneEconomy {
		t.Errorf("sent %+v, want both on the economy lane", sent)
	}
	var job struct {
		Lane    string `json:"lane"`
		Economy *struct {
			State    string `json:"state"`
			Fallback bool   `json:"economy_fallback"`
		} `json:"economy"`
	}
	f.do(t, "GET", "/jobs/"+out.Results[0].JobID, "alice", "").json(t, &job)
	if job.Lane != "economy" || job.Economy == nil || job.Economy.State != "waiting" || !job.Economy.Fallback {
		t.Errorf("GET shows lane %q economy %+v", job.Lane, job.Economy)
	}
	// A bulk job shows no economy object, and the fallback is the batch's
	// choice: without it, false.
	res = f.do(t, "POST", "/generate/batch", "alice", `{"lane":"economy","requests":[{"prompt":"three"}]}`)
	res.json(t, &out)
	f.do(t, "GET", "/jobs/"+out.Results[0].JobID, "alice", "").json(t, &job)
	if job.Economy == nil || job.Economy.Fallback {
		t.Errorf("without economy_fallback: %+v", job.Economy)
	}
	res = f.do(t, "POST", "/generate/batch", "alice", `{"requests":[{"prompt":"four"}]}`)
	res.json(t, &out)
	job.Economy = nil
	f.do(t, "GET", "/jobs/"+out.Results[0].JobID, "alice", "").json(t, &job)
	if job.Lane != "bulk" || job.Economy != nil {
		t.Errorf("a bulk job shows lane %q economy %+v", job.Lane, job.Economy)
	}
}

// An economy job's tokens are shown apart from the same model's on-demand
// ones, priced at the batch price (catalogue.BatchDiscount of it).
func TestUsagePricesEconomyTokensAtTheBatchPrice(t *testing.T) {
	t.Parallel()
	f := setup(t, func(e *env) { e.cfg.Economy = true })
	charge := func(body string, used jobs.Tokens) {
		t.Helper()
		var out struct {
			Results []struct {
				JobID string `json:"job_id"`
			} `json:"results"`
		}
		f.do(t, "POST", "/generate/batch", "alice", body).json(t, &out)
		j, err := f.store.Claim(t.Context(), "alice", out.Results[0].JobID, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.Charge(t.Context(), j, used); err != nil {
			t.Fatal(err)
		}
	}
	charge(`{"requests":[{"prompt":"on demand"}]}`, jobs.Tokens{Input: 2000, Output: 4000})
	charge(`{"lane":"economy","requests":[{"prompt":"economy"}]}`, jobs.Tokens{Input: 2000, Output: 4000})
	u := f.usage(t, "alice")
	// $0.10 and $0.50 per million: $0.0022 on demand, half that for the
	// economy's.
	if len(u.ByModel) != 2 || u.ByModel[0].Economy || !u.ByModel[1].Economy ||
		u.ByModel[0].Model != jobs.DefaultModel || u.ByModel[1].Model != jobs.DefaultModel ||
		*u.ByModel[0].CostUSD != 0.0022 || *u.ByModel[1].CostUSD != 0.0011 || u.EstimatedCostUSD != 0.0033 {
		t.Errorf("usage by model = %+v, estimated %v", u.ByModel, u.EstimatedCostUSD)
	}
}

// Under make dev the local stand-in answers for every model, so GET /usage
// prices the tokens at $0 while naming the model asked for.
func TestUsagePricesTheLocalStandInsAnswersAtZero(t *testing.T) {
	t.Parallel()
	for _, standIn := range []bool{false, true} {
		f := setup(t, func(e *env) { e.cfg.StandIn = standIn })
		id := f.submit(t, "alice", `{"prompt":"hello"}`)
		j, err := f.store.Claim(t.Context(), "alice", id, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.Charge(t.Context(), j, jobs.Tokens{Input: 2000, Output: 4000}); err != nil {
			t.Fatal(err)
		}
		u := f.usage(t, "alice")
		want := 0.0022 // $0.10 and $0.50 per million
		if standIn {
			want = 0
		}
		if len(u.ByModel) != 1 || u.ByModel[0].Name != "Claude Haiku 5.5" || u.ByModel[0].CostUSD == nil ||
			*u.ByModel[0].CostUSD != want || u.EstimatedCostUSD != want {
			t.Errorf("stand-in %v: usage by model %+v, estimated %v; want $%v", standIn, u.ByModel, u.EstimatedCostUSD, want)
		}
	}
}

// countingStore counts the reads of a job's whole text (Get) and of its
// item alone (Head).
type countingStore struct {
	*inmem.Store
	gets, heads atomic.Int32
}

func (c *countingStore) Get(ctx context.Context, owner, id string) (jobs.Job, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, owner, id)
}

func (c *countingStore) Head(ctx context.Context, owner, id string) (jobs.Job, error) {
	c.heads.Add(1)
	return c.Store.Head(ctx, owner, id)
}

// A finished job has an ETag; a poll that sends it back is answered 304
// from the job item alone, without reading the prompt and text again.
func TestAFinishedJobsETagSavesReadingItAgain(t *testing.T) {
	t.Parallel()
	var cs *countingStore
	f := setup(t, func(e *env) {
		cs = &countingStore{Store: e.deps.Store.(*inmem.Store)}
		e.deps.Store = cs
	})
	id := f.submit(t, "alice", `{"prompt":"Write a long story."}`)
	if res := f.do(t, "GET", "/jobs/"+id, "alice", ""); res.StatusCode != http.StatusOK || res.Header.Get("ETag") != "" {
		t.Fatalf("a queued job: %d, ETag %q; want 200 and none (it still changes)", res.StatusCode, res.Header.Get("ETag"))
	}
	j, err := f.store.Claim(t.Context(), "alice", id, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// It wrote a long text, then failed for good.
	if err := f.store.SaveProgress(t.Context(), "alice", id, j.Attempts, jobs.Progress{GeneratedText: strings.Repeat("Once upon a time. ", 500)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Fail(t.Context(), "alice", id, j.Attempts, jobs.Failure{Code: jobs.FailureModel, Message: "no"}); err != nil {
		t.Fatal(err)
	}
	res := f.do(t, "GET", "/jobs/"+id, "alice", "")
	tag := res.Header.Get("ETag")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(tag, `W/"`) {
		t.Fatalf("a finished job: %d, ETag %q", res.StatusCode, tag)
	}
	gets := cs.gets.Load()
	res = f.do(t, "GET", "/jobs/"+id, "alice", "", "If-None-Match", tag)
	if res.StatusCode != http.StatusNotModified || len(res.body) != 0 || res.Header.Get("ETag") != tag {
		t.Errorf("with its ETag: %d, %d bytes, ETag %q; want 304, empty, the same tag", res.StatusCode, len(res.body), res.Header.Get("ETag"))
	}
	if cs.gets.Load() != gets || cs.heads.Load() == 0 {
		t.Errorf("the 304 read the whole job (%d gets more) or not its item (%d heads)", cs.gets.Load()-gets, cs.heads.Load())
	}
	if res := f.do(t, "GET", "/jobs/"+id, "alice", "", "If-None-Match", `"something-else", `+tag); res.StatusCode != http.StatusNotModified {
		t.Errorf("with its tag among others: %d, want 304", res.StatusCode)
	}
	if res := f.do(t, "GET", "/jobs/"+id, "alice", "", "If-None-Match", `W/"stale"`); res.StatusCode != http.StatusOK || len(res.body) == 0 {
		t.Errorf("with another tag: %d, want 200 with the job", res.StatusCode)
	}
	if res := f.do(t, "GET", "/jobs/"+id, "bob", "", "If-None-Match", tag); res.StatusCode != http.StatusNotFound {
		t.Errorf("another user with the tag: %d, want 404", res.StatusCode)
	}
	// An operator's replay changes the job, and its tag.
	f.clock.Advance(time.Second)
	if _, err := f.store.Requeue(t.Context(), "alice", id); err != nil {
		t.Fatal(err)
	}
	if res := f.do(t, "GET", "/jobs/"+id, "alice", "", "If-None-Match", tag); res.StatusCode != http.StatusOK {
		t.Errorf("after a replay, the old tag: %d, want 200", res.StatusCode)
	}
}

// haiku45 is a model the tests allow besides the default: it takes a
// temperature (the default, Claude Haiku 5.5, takes none).
const haiku45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"

// A call whose prompt passed Claude Haiku 5.5's 100,000 tokens is billed
// at 5x: usage prices it so, apart, and counts it 5x against the budget.
func TestUsagePricesTheLongContextBand(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.submit(t, "alice", `{"prompt":"long"}`)
	j, err := f.store.Claim(t.Context(), "alice", id, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	used := jobs.Tokens{Input: 150_000, Output: 1000}
	if err := f.store.Charge(t.Context(), j, used); err != nil {
		t.Fatal(err)
	}
	u := f.usage(t, "alice")
	// $0.50 and $2.50 per million: $0.075 + $0.0025.
	if len(u.ByModel) != 1 || !u.ByModel[0].LongContext || u.ByModel[0].Input != 150_000 ||
		*u.ByModel[0].CostUSD != 0.0775 || u.Tokens.Charged != 5*used.Total() {
		t.Errorf("usage = %+v, by model %+v", u.Tokens, u.ByModel)
	}
}

// A job that stopped at max_tokens is continued by a new job that starts
// with its text (POST /generate's continue); other jobs, and another
// user's, are refused by name with nothing stored or sent.
func TestContinueAJobThatStoppedAtMaxTokens(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	end := func(id, text, stop string) {
		c, err := f.store.Claim(ctx, "alice", id, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.Finish(ctx, "alice", id, c.Attempts, jobs.Progress{GeneratedText: text, StopReason: stop, Tokens: jobs.Tokens{Input: 5, Output: 8}}); err != nil {
			t.Fatal(err)
		}
	}
	cut := f.submit(t, "alice", `{"prompt":"Tell a long story","max_tokens":8,"model":"`+haiku45+`","temperature":0.5}`)
	end(cut, "Once upon a time there was a queue", "max_tokens")
	whole := f.submit(t, "alice", `{"prompt":"Say hi"}`)
	end(whole, "Hi.", "end_turn")
	sentBefore := len(f.queue.Sent())

	for _, tt := range []struct {
		name, user, body string
		status           int
		field            string
	}{
		{"a complete answer", "alice", `{"continue":"` + whole + `"}`, 409, "continue"},
		{"another user's job", "mallory", `{"continue":"` + cut + `"}`, 404, "continue"},
		{"no such job", "alice", `{"continue":"` + jobs.NewID() + `"}`, 404, "continue"},
		{"a prompt besides", "alice", `{"continue":"` + cut + `","prompt":"more"}`, 400, "prompt"},
		{"more than the model writes", "alice", `{"continue":"` + cut + `","max_tokens":64001}`, 400, "max_tokens"},
	} {
		res := f.do(t, "POST", "/generate", tt.user, tt.body)
		var e apiError
		res.json(t, &e)
		if res.StatusCode != tt.status || e.Error.Field != tt.field {
			t.Errorf("%s: %d %s, want %d naming %s", tt.name, res.StatusCode, res.body, tt.status, tt.field)
		}
	}
	if n := len(f.jobsOf(t, "alice")); n != 2 || len(f.queue.Sent()) != sentBefore || len(f.jobsOf(t, "mallory")) != 0 {
		t.Fatalf("refused continuations stored or sent something: %d jobs, %d messages", n, len(f.queue.Sent())-sentBefore)
	}

	id := f.submit(t, "alice", `{"continue":"`+cut+`","max_tokens":200}`)
	var got struct {
		Status        string   `json:"status"`
		Prompt        string   `json:"prompt"`
		Model         string   `json:"model"`
		MaxTokens     int      `json:"max_tokens"`
		Temperature   *float64 `json:"temperature"`
		GeneratedText string   `json:"generated_text"`
		Continues     string   `json:"continues"`
	}
	f.do(t, "GET", "/jobs/"+id, "alice", "").json(t, &got)
	if got.Status != "queued" || got.Prompt != "Tell a long story" || got.Model != haiku45 || got.MaxTokens != 200 ||
		got.Temperature == nil || *got.Temperature != 0.5 || got.GeneratedText != "Once upon a time there was a queue" || got.Continues != cut {
		t.Errorf("the continuation: %+v", got)
	}
	if sent := f.queue.Sent(); sent[len(sent)-1].JobID != id {
		t.Errorf("sent %+v, want the continuation's message last", sent[len(sent)-1])
	}
	if j, err := f.store.Get(ctx, "alice", id); err != nil || j.Budget.Reserved < 200+len("Once upon a time there was a queue") {
		t.Errorf("reserved %d, %v: want the text it continues counted as input", j.Budget.Reserved, err)
	}
	// The job continued is as it ended.
	var was struct{ Status, StopReason string }
	f.do(t, "GET", "/jobs/"+cut, "alice", "").json(t, &was)
	if was.Status != "succeeded" {
		t.Errorf("the job continued is %s", was.Status)
	}
}

// Every job says what it was charged, whatever became of it, and the
// day's jobs add up to GET /usage: the tokens and their cost. A job
// cancelled while its worker ran it says its charge may still grow, has no
// ETag and is worth polling again, until the worker's charge lands or a
// minute has passed.
func TestEveryJobSaysWhatItWasChargedAndTheDayAddsUp(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	type charged struct {
		Tokens, Input, Output int
		CacheRead             int      `json:"cache_read"`
		CacheWrite            int      `json:"cache_write"`
		Cost                  *float64 `json:"estimated_cost_usd"`
		Pending               bool
	}
	get := func(id string) (charged, response) {
		var v struct{ Charged *charged }
		res := f.do(t, "GET", "/jobs/"+id, "alice", "")
		res.json(t, &v)
		if v.Charged == nil {
			t.Fatalf("job %s has no charged: %s", id, res.body)
		}
		return *v.Charged, res
	}
	claimCharge := func(id string, used jobs.Tokens) jobs.Job {
		c, err := f.store.Claim(ctx, "alice", id, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.Charge(ctx, c, used); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// A finished job, a failed one, one of another model with its cache,
	// one in its long-context band, one never run.
	ok := f.submit(t, "alice", `{"prompt":"fine"}`)
	c := claimCharge(ok, jobs.Tokens{Input: 120, Output: 900})
	if err := f.store.Finish(ctx, "alice", ok, c.Attempts, jobs.Progress{GeneratedText: "x", StopReason: "end_turn", Tokens: jobs.Tokens{Input: 120, Output: 900}}); err != nil {
		t.Fatal(err)
	}
	bad := f.submit(t, "alice", `{"prompt":"breaks"}`)
	c = claimCharge(bad, jobs.Tokens{Input: 40, Output: 7})
	if err := f.store.Fail(ctx, "alice", bad, c.Attempts, jobs.Failure{Code: jobs.FailureModel, Message: "no"}); err != nil {
		t.Fatal(err)
	}
	cached := f.submit(t, "alice", `{"prompt":"cached","model":"`+haiku45+`"}`)
	claimCharge(cached, jobs.Tokens{Input: 10, Output: 30, CacheRead: 4000, CacheWrite: 20})
	long := f.submit(t, "alice", `{"prompt":"long"}`)
	claimCharge(long, jobs.Tokens{Input: 150_000, Output: 1000})
	never := f.submit(t, "alice", `{"prompt":"cancelled while queued"}`)
	if _, err := f.store.Cancel(ctx, "alice", never); err != nil {
		t.Fatal(err)
	}
	if ch, res := get(never); ch.Tokens != 0 || ch.Pending || res.Header.Get("ETag") == "" || res.Header.Get("Retry-After") != "" {
		t.Errorf("cancelled before it ran: %+v, ETag %q, Retry-After %q; want nothing charged, final", ch, res.Header.Get("ETag"), res.Header.Get("Retry-After"))
	}

	// Cancelled while its worker runs it: the worker charges the call it
	// stops afterwards.
	running := f.submit(t, "alice", `{"prompt":"cancelled while running"}`)
	r, err := f.store.Claim(ctx, "alice", running, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Cancel(ctx, "alice", running); err != nil {
		t.Fatal(err)
	}
	ch, res := get(running)
	if ch.Tokens != 0 || !ch.Pending || res.Header.Get("ETag") != "" || res.Header.Get("Retry-After") == "" {
		t.Errorf("cancelled while running, not charged yet: %+v, ETag %q, Retry-After %q; want pending, no ETag, a Retry-After",
			ch, res.Header.Get("ETag"), res.Header.Get("Retry-After"))
	}
	if err := f.store.Charge(ctx, r, jobs.Tokens{Input: 60, Output: 12}); err != nil {
		t.Fatal(err)
	}
	if ch, res = get(running); ch.Tokens != 72 || ch.Input != 60 || ch.Output != 12 || ch.Pending || res.Header.Get("ETag") == "" {
		t.Errorf("cancelled while running, then charged: %+v, ETag %q; want 72 tokens, final", ch, res.Header.Get("ETag"))
	}
	// One whose worker never charged is final a minute after its cancel.
	lost := f.submit(t, "alice", `{"prompt":"its worker died"}`)
	if _, err := f.store.Claim(ctx, "alice", lost, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Cancel(ctx, "alice", lost); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(jobs.ChargeAfterCancel)
	if ch, _ := get(lost); ch.Pending {
		t.Errorf("a minute after the cancel: %+v, want final", ch)
	}

	if ch, _ := get(long); ch.Tokens != 5*151_000 || ch.Input != 5*150_000 {
		t.Errorf("the long-context job: %+v, want its tokens at the band's factor", ch)
	}
	if ch, _ := get(cached); ch.CacheRead != 4000 || ch.CacheWrite != 20 || ch.Cost == nil {
		t.Errorf("the cached job: %+v", ch)
	}
	tokens, cost := 0, 0.0
	var list struct{ Jobs []struct{ Charged *charged } }
	f.do(t, "GET", "/jobs?limit=100", "alice", "").json(t, &list)
	for _, j := range list.Jobs {
		tokens += j.Charged.Tokens
		cost += *j.Charged.Cost
	}
	u := f.usage(t, "alice")
	if len(list.Jobs) != 7 || tokens != u.Tokens.Charged || math.Abs(cost-u.EstimatedCostUSD) > 0.0002 || u.EstimatedCostUSD == 0 {
		t.Errorf("%d jobs charged %d tokens, $%.4f; usage says %d, $%.4f", len(list.Jobs), tokens, cost, u.Tokens.Charged, u.EstimatedCostUSD)
	}
}

// GET /jobs?q= searches the caller's whole history, every word of prompts
// and answers, not a page of previews; a bad q is a 400 naming it.
func TestSearchFindsWordsBeyondThePreviews(t *testing.T) {
	t.Parallel()
	f := setup(t)
	long := strings.Repeat("Padding words to pass the preview. ", 20)
	deep := f.submit(t, "alice", `{"prompt":"`+long+`Find the axolotl."}`)
	answered := f.submit(t, "alice", `{"prompt":"Something else."}`)
	c, err := f.store.Claim(t.Context(), "alice", answered, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Finish(t.Context(), "alice", answered, c.Attempts, jobs.Progress{GeneratedText: long + "An Axolotl smiles.", StopReason: "end_turn"}); err != nil {
		t.Fatal(err)
	}
	f.submit(t, "mallory", `{"prompt":"My own axolotl."}`)
	var page struct {
		Jobs []struct {
			JobID     string `json:"job_id"`
			Prompt    string `json:"prompt"`
			Truncated bool   `json:"truncated"`
		} `json:"jobs"`
		NextCursor string `json:"next_cursor"`
	}
	res := f.do(t, "GET", "/jobs?q=AXOLOTL", "alice", "")
	res.json(t, &page)
	if res.StatusCode != 200 || len(page.Jobs) != 2 || page.Jobs[0].JobID != answered || page.Jobs[1].JobID != deep || !page.Jobs[1].Truncated {
		t.Errorf("search: %d %s; want both of alice's jobs, newest first, as previews", res.StatusCode, res.body)
	}
	f.do(t, "GET", "/jobs?q=axolotl+smiles&limit=1", "alice", "").json(t, &page)
	if len(page.Jobs) != 1 || page.Jobs[0].JobID != answered {
		t.Errorf("every word: %+v", page)
	}
	before := len(f.queue.Sent())
	for _, q := range []string{"q=", "q=%20%20", "q=" + strings.Repeat("a", jobs.MaxSearchChars+1), "q=a&q=b", "q=%21%3F", "q=" + strings.Repeat("w+", jobs.MaxSearchWords+1)} {
		res := f.do(t, "GET", "/jobs?"+q, "alice", "")
		var e apiError
		res.json(t, &e)
		if res.StatusCode != 400 || e.Error.Field != "q" {
			t.Errorf("GET /jobs?%s: %d %s, want a 400 naming q", q, res.StatusCode, res.body)
		}
	}
	if len(f.queue.Sent()) != before {
		t.Error("a search sent something")
	}
}

// A job with a response format shows it, and, once it succeeded, its
// answer as JSON (generated_json) beside the text; a listing shows
// neither, and a job of text has no generated_json.
func TestAJobWithAResponseFormatGivesItsAnswerAsJSON(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const schema = `{"type":"object","properties":{"label":{"enum":["spam","ham"]},"score":{"type":"number"}},"required":["label"]}`
	id := f.submit(t, "alice", `{"prompt":"Is it spam?","response_format":{"type":"json_schema","name":"label","schema":`+schema+`}}`)
	plain := f.submit(t, "alice", `{"prompt":"Say hi."}`)
	for _, job := range []struct{ id, text string }{{id, "{\n \"label\": \"ham\", \"score\": 0.25}"}, {plain, `{"label": "ham"}`}} {
		j, err := f.store.Claim(t.Context(), "alice", job.id, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.Finish(t.Context(), "alice", job.id, j.Attempts, jobs.Progress{GeneratedText: job.text}); err != nil {
			t.Fatal(err)
		}
	}
	var got map[string]json.RawMessage
	f.do(t, "GET", "/jobs/"+id, "alice", "").json(t, &got)
	if string(got["generated_json"]) != `{"label":"ham","score":0.25}` ||
		string(got["response_format"]) != `{"type":"json_schema","name":"label","schema":`+schema+`}` {
		t.Errorf("GET /jobs/{id}: generated_json %s, response_format %s", got["generated_json"], got["response_format"])
	}
	var text map[string]json.RawMessage
	f.do(t, "GET", "/jobs/"+plain, "alice", "").json(t, &text)
	if _, ok := text["generated_json"]; ok {
		t.Errorf("a job of text has generated_json %s", text["generated_json"])
	}
	var page struct{ Jobs []map[string]json.RawMessage }
	f.do(t, "GET", "/jobs", "alice", "").json(t, &page)
	for _, j := range page.Jobs {
		if j["generated_json"] != nil || j["response_format"] != nil {
			t.Errorf("a listing carries %s, %s", j["generated_json"], j["response_format"])
		}
	}
}
