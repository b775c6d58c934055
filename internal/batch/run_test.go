package batch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/httpapi"
	"github.com/promptq/promptq/internal/jobs"
)

func TestRunSubmitsWaitsAndWritesResultsInInputOrder(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	in := prompts(250)
	// Some answers are longer than a listing's 280-character preview, so
	// they must be read whole with GET /jobs/{id}.
	in[7] = `{"id": "long", "prompt": "` + strings.Repeat("long ", 100) + `"}`
	in[8] = `{"id": "fails", "prompt": "please FAIL"}`
	input := writeInput(t, t.TempDir(), in...)
	o := a.options(t, input, nil)
	o.Wait = true

	sum, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(a.jobsOf(t, "alice")); got != 250 {
		t.Errorf("store has %d jobs, want 250", got)
	}
	if got := a.batchCalls.Load(); got != 3 {
		t.Errorf("%d batch calls for 250 lines, want 3", got)
	}
	res := readResults(t, o.Output)
	if len(res) != 250 {
		t.Fatalf("%d results, want 250", len(res))
	}
	for i, r := range res {
		if r.Line != i+1 {
			t.Fatalf("result %d is line %d: not in input order", i, r.Line)
		}
	}
	for i, r := range res {
		switch i {
		case 7:
			if want := "echo: " + strings.Repeat("long ", 100); r.GeneratedText == nil || *r.GeneratedText != want || r.Status != "succeeded" {
				t.Errorf("long line: status %s, text %v; want it whole", r.Status, r.GeneratedText)
			}
		case 8:
			if r.Status != "failed" || r.Error == nil || r.Error.Code != jobs.FailureModel {
				t.Errorf("failing line: %+v", r)
			}
		default:
			want := fmt.Sprintf("echo: prompt number %d", i)
			if r.Status != "succeeded" || r.GeneratedText == nil || *r.GeneratedText != want || r.JobID == "" {
				t.Fatalf("line %d: %+v, want succeeded with %q", i+1, r, want)
			}
			if wantID := fmt.Sprintf("p%d", i); (i%3 == 2) != (r.ID == "") || (r.ID != "" && r.ID != wantID) {
				t.Fatalf("line %d: id %q", i+1, r.ID)
			}
			if r.Tokens == nil || r.Tokens.Output != len(want) {
				t.Fatalf("line %d: tokens %+v", i+1, r.Tokens)
			}
		}
	}
	if sum.Succeeded != 249 || sum.Failed != 1 || sum.Submitted != 250 || sum.Results != o.Output {
		t.Errorf("summary %+v", sum)
	}
}

func TestWithoutWaitResultsCarryTheStatusTheAPIGave(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	input := writeInput(t, t.TempDir(), prompts(5)...)
	o := a.options(t, input, nil)

	if _, err := Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	for _, r := range readResults(t, o.Output) {
		if r.Status != "queued" || r.JobID == "" || r.GeneratedText == nil || *r.GeneratedText != "" {
			t.Errorf("line %d: %+v, want queued with a job id and no text", r.Line, r)
		}
	}
	if n := a.getCalls.Load() + a.listCalls.Load(); n != 0 {
		t.Errorf("%d polls without --wait", n)
	}
}

func TestInvalidLinesAreReportedAndTheRestDone(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	input := writeInput(t, t.TempDir(),
		`{"id": "ok1", "prompt": "fine"}`,
		``,
		`not json`,
		`{"id": "noprompt", "system": "s"}`,
		`{"id": "ok1", "prompt": "a repeated id"}`,
		`{"prompt": "x", "max_tokens": 0}`,
		`{"prompt": "x", "colour": "blue"}`,
		`{"id": "model", "prompt": "x", "model": "not-on-the-server"}`,
		`   `,
		`{"id": "ok2", "prompt": "also fine", "effort": "low"}`,
	)
	o := a.options(t, input, nil)
	o.Wait = true
	sum, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		line   int
		status string
		field  string
	}
	wants := []want{
		{1, "succeeded", ""},
		{3, "rejected", "body"},
		{4, "rejected", "prompt"},
		{5, "rejected", "id"},
		{6, "rejected", "max_tokens"},
		{7, "rejected", "colour"},
		{8, "rejected", "model"}, // only the API knows its models
		{10, "succeeded", ""},
	}
	res := readResults(t, o.Output)
	if len(res) != len(wants) {
		t.Fatalf("%d results, want %d (blank lines skipped): %+v", len(res), len(wants), res)
	}
	for i, w := range wants {
		r := res[i]
		if r.Line != w.line || r.Status != w.status {
			t.Errorf("result %d: line %d status %s, want line %d status %s", i, r.Line, r.Status, w.line, w.status)
		}
		if w.field != "" && (r.Error == nil || r.Error.Field != w.field || r.Error.Message == "") {
			t.Errorf("line %d: error %+v, want one about %s", r.Line, r.Error, w.field)
		}
	}
	if got := len(a.jobsOf(t, "alice")); got != 2 {
		t.Errorf("store has %d jobs, want 2", got)
	}
	if sum.Invalid != 5 || sum.Rejected != 1 || sum.Succeeded != 2 {
		t.Errorf("summary %+v", sum.Counts)
	}
	if a.batchCalls.Load() != 1 {
		t.Errorf("%d batch calls, want 1: locally invalid lines are not sent", a.batchCalls.Load())
	}
}

func TestAnInterruptedRunResumesWithoutDuplicateJobs(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	input := writeInput(t, t.TempDir(), prompts(1000)...)

	// The first run is stopped (as by Ctrl-C) after its third batch.
	ctx, cancel := context.WithCancel(t.Context())
	o := a.options(t, input, nil)
	o.Wait = true
	o.Concurrency = 1
	var batches atomic.Int64
	o.OnBatch = func(int) {
		if batches.Add(1) == 3 {
			cancel()
		}
	}
	sum, err := Run(ctx, o)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("first run: %v, want ErrInterrupted", err)
	}
	if sum.Submitted != 300 || sum.Results != "" {
		t.Errorf("first run: %d submitted, results %q; want 300 and no results file", sum.Submitted, sum.Results)
	}
	if _, err := os.Stat(o.Output); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an interrupted run wrote results: %v", err)
	}

	o.OnBatch = nil
	before := a.batchCalls.Load()
	sum, err = Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.batchCalls.Load() - before; got != 7 {
		t.Errorf("the second run made %d batch calls, want 7 (only the lines not yet sent)", got)
	}
	if sum.Replayed != 0 {
		t.Errorf("%d replays: the state should have kept the second run from resending", sum.Replayed)
	}
	checkNoDuplicates(t, a, 1000)
	res := readResults(t, o.Output)
	if len(res) != 1000 || res[999].Line != 1000 || res[0].Status != "succeeded" || res[999].Status != "succeeded" {
		t.Errorf("results: %d lines, last %+v", len(res), res[len(res)-1])
	}

	// A third run has nothing left to send or fetch.
	calls := a.batchCalls.Load() + a.getCalls.Load() + a.listCalls.Load()
	if _, err := Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if got := a.batchCalls.Load() + a.getCalls.Load() + a.listCalls.Load(); got != calls {
		t.Errorf("a run with everything done made %d calls", got-calls)
	}
	if again := readResults(t, o.Output); len(again) != 1000 || *again[5].GeneratedText != *res[5].GeneratedText {
		t.Errorf("rewritten results differ")
	}
}

// checkNoDuplicates asserts the store holds n jobs with n distinct
// idempotency keys.
func checkNoDuplicates(t *testing.T, a *api, n int) {
	t.Helper()
	all := a.jobsOf(t, "alice")
	keys := map[string]bool{}
	for _, j := range all {
		if keys[j.IdempotencyKey] {
			t.Errorf("two jobs have key %s", j.IdempotencyKey)
		}
		keys[j.IdempotencyKey] = true
	}
	if len(all) != n {
		t.Errorf("store has %d jobs, want %d", len(all), n)
	}
}

func TestAStateSavedBeforeTheAnswerWasLostIsHarmless(t *testing.T) {
	t.Parallel()
	// The run is killed after the API stored a batch but before the state
	// recorded it: the next run sends those lines again, and the API
	// answers with the jobs it already has.
	a := newAPI(t)
	input := writeInput(t, t.TempDir(), prompts(150)...)
	o := a.options(t, input, nil)
	if _, err := Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(StatePath(o.Output)); err != nil {
		t.Fatal(err)
	}
	sum, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Replayed != 150 {
		t.Errorf("%d replayed, want 150", sum.Replayed)
	}
	checkNoDuplicates(t, a, 150)
}

func TestALostAnswerIsRetriedWithoutDuplicateJobs(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	var lost atomic.Int64
	a.intercept = func(w http.ResponseWriter, r *http.Request, h http.Handler) bool {
		if r.URL.Path != "/generate/batch" || lost.Add(1) > 2 {
			return false
		}
		// The API does the work, but the answer never arrives.
		h.ServeHTTP(discard{}, r)
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return true
	}
	input := writeInput(t, t.TempDir(), prompts(120)...)
	s := &sleeps{}
	o := a.options(t, input, s)
	o.Concurrency = 1
	sum, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkNoDuplicates(t, a, 120)
	if sum.Retries != 2 || sum.Replayed != 100 {
		t.Errorf("retries %d, replayed %d; want 2 and 100", sum.Retries, sum.Replayed)
	}
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header {
	if d.h == nil {
		return http.Header{}
	}
	return d.h
}
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

func TestTooManyRequestsWaitsTheRetryAfter(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	var n atomic.Int64
	a.intercept = func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.URL.Path != "/generate/batch" || n.Add(1) > 3 {
			return false
		}
		w.Header().Set("Retry-After", "7")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"code":"rate_limited","message":"slow down","field":"submissions_per_minute"}}`)
		return true
	}
	input := writeInput(t, t.TempDir(), prompts(10)...)
	s := &sleeps{}
	o := a.options(t, input, s)
	o.MaxAttempts = 2 // 429s with Retry-After do not use up attempts
	sum, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Submitted != 10 || sum.Retries != 3 {
		t.Errorf("submitted %d, retries %d; want 10 and 3", sum.Submitted, sum.Retries)
	}
	var waited int
	for _, d := range s.all() {
		if d >= 7*time.Second && d <= 7*time.Second+1400*time.Millisecond {
			waited++
		} else if d > 0 {
			t.Errorf("waited %v; want Retry-After's 7s plus at most a fifth", d)
		}
	}
	if waited < 3 {
		t.Errorf("waited out Retry-After %d times, want 3: %v", waited, s.all())
	}
}

func TestServerErrorsBackOffExponentially(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	var n atomic.Int64
	a.intercept = func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.URL.Path != "/generate/batch" || n.Add(1) > 4 {
			return false
		}
		http.Error(w, "oops", http.StatusInternalServerError)
		return true
	}
	input := writeInput(t, t.TempDir(), prompts(3)...)
	s := &sleeps{}
	o := a.options(t, input, s)
	o.BaseDelay, o.MaxDelay = time.Second, 5*time.Second
	if _, err := Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	// Equal jitter: each wait is in [d/2, d] for d = 1s, 2s, 4s, 5s (capped).
	caps := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}
	got := s.all()
	if len(got) != len(caps) {
		t.Fatalf("waits %v, want %d", got, len(caps))
	}
	for i, d := range got {
		if d < caps[i]/2 || d > caps[i] {
			t.Errorf("wait %d is %v, want within [%v, %v]", i+1, d, caps[i]/2, caps[i])
		}
	}
}

func TestTheRetryBudgetStopsARunThatKeepsFailing(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	a.intercept = func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	}
	input := writeInput(t, t.TempDir(), prompts(500)...)
	o := a.options(t, input, nil)
	o.RetryBudget = 10
	o.Concurrency = 2
	sum, err := Run(t.Context(), o)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("err %v, want ErrBudget", err)
	}
	// Each of the 5 batches gets at most one first try beyond the budget.
	if sum.Retries > 10 || sum.Calls > 10+5 {
		t.Errorf("%d retries in %d calls with a budget of 10", sum.Retries, sum.Calls)
	}
}

func TestALongRetryAfterEndsTheRunWithTheAPIsMessage(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	a.intercept = func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		w.Header().Set("Retry-After", "36000")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"code":"rate_limited","message":"Daily token budget spent.","field":"tokens_per_day"}}`)
		return true
	}
	input := writeInput(t, t.TempDir(), prompts(3)...)
	_, err := Run(t.Context(), a.options(t, input, nil))
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Field != "tokens_per_day" || !strings.Contains(err.Error(), "Daily token budget") {
		t.Fatalf("err %v, want the API's 429", err)
	}
}

func TestEntriesTheAPICouldNotQueueAreSentAgain(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	var failed atomic.Bool
	a.queue.SetErrFunc(func(m jobs.Message) error {
		if failed.CompareAndSwap(false, true) {
			return errors.New("queue down for a moment")
		}
		return nil
	})
	input := writeInput(t, t.TempDir(), prompts(30)...)
	o := a.options(t, input, nil)
	o.Wait = true
	sum, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 30 || a.batchCalls.Load() != 2 {
		t.Errorf("%d succeeded in %d batch calls; want 30 in 2", sum.Succeeded, a.batchCalls.Load())
	}
	// The API marked the job it could not queue failed (enqueue_failed)
	// and freed its key; the retry made the one that ran.
	var abandoned int
	for _, j := range a.jobsOf(t, "alice") {
		if j.Failure != nil && j.Failure.Code == jobs.FailureEnqueue {
			abandoned++
		}
	}
	if abandoned != 1 || len(a.jobsOf(t, "alice")) != 31 {
		t.Errorf("%d abandoned of %d jobs; want 1 of 31", abandoned, len(a.jobsOf(t, "alice")))
	}
}

func TestBatchesTooBigForTheAPIAreSplit(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(c *httpapi.Config) { c.MaxBatchEntries = 30 })
	input := writeInput(t, t.TempDir(), prompts(100)...)
	sum, err := Run(t.Context(), a.options(t, input, nil))
	if err != nil {
		t.Fatal(err)
	}
	// 100 -> 400; 50 + 50 -> 400 each; four of 25 succeed.
	if sum.Submitted != 100 || a.batchCalls.Load() != 7 {
		t.Errorf("%d submitted in %d calls; want 100 in 7", sum.Submitted, a.batchCalls.Load())
	}
	checkNoDuplicates(t, a, 100)
}

// flakyToken is refused once, then refreshed.
type flakyToken struct {
	refreshes atomic.Int64
}

func (f *flakyToken) Token(context.Context) (string, error) {
	if f.refreshes.Load() == 0 {
		return "expired", nil
	}
	return "token-alice", nil
}

func (f *flakyToken) Refresh(context.Context, string) error {
	f.refreshes.Add(1)
	return nil
}

func TestARefusedTokenIsRefreshedOnce(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	input := writeInput(t, t.TempDir(), prompts(3)...)
	o := a.options(t, input, nil)
	tok := &flakyToken{}
	o.Auth = tok
	if _, err := Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if tok.refreshes.Load() != 1 {
		t.Errorf("%d refreshes, want 1", tok.refreshes.Load())
	}

	o.Auth = staticToken("not-a-token")
	o.Output += ".2"
	_, err := Run(t.Context(), o)
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("a refused fixed token: %v, want ErrUnauthorized", err)
	}
}

func TestAnotherRunCannotShareTheState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lines, err := ReadInput(strings.NewReader(`{"prompt":"x"}`), "batch")
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := openState(dir+"/out.state", lines)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, _, err := openState(dir+"/out.state", lines); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second open: %v, want in use", err)
	}
}

func TestCtrlCFinishesTheCallInFlightSavesItAndExits130(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	bin := buildBatch(t)
	dir := t.TempDir()
	input := writeInput(t, dir, prompts(300)...)
	// The third batch (prompts 200 to 299) is held in flight while the
	// tool gets SIGINT.
	p := newHoldingProxy(t, a.srv.URL, `prompt number 200"`, true)
	cmd := exec.Command(bin, "--api-url", p.srv.URL, "--concurrency", "1", "--quiet", input)
	cmd.Env = append(os.Environ(), "PROMPTQ_TOKEN=token-alice", "PROMPTQ_DEV_DIR="+dir)
	out := &watchedOutput{want: "batch: stopping", seen: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	<-p.held
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// Ctrl-C arrives while the call is in flight: once the tool says it
	// is stopping, the answer may come.
	select {
	case <-out.seen:
	case <-t.Context().Done():
		t.Fatalf("the tool never said it was stopping:\n%s", out.String())
	}
	p.release()
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != ExitInterrupted {
		t.Fatalf("exit %v, want 130:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "interrupted; re-run the same command to resume") {
		t.Errorf("output:\n%s", out.String())
	}
	if n := a.batchCalls.Load(); n != 3 {
		t.Errorf("%d batch calls, want 3: nothing new after Ctrl-C", n)
	}
	s, recs, err := openState(StatePath(strings.TrimSuffix(input, ".jsonl")+".results.jsonl"), mustRead(t, input))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.close()
	if len(recs) != 300 {
		t.Errorf("the state has %d records, want 300: the call in flight was saved too", len(recs))
	}
}

func mustRead(t *testing.T, path string) []Line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines, err := ReadInput(f, DefaultKeyPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// watchedOutput collects a process's output and closes seen once it
// contains want.
type watchedOutput struct {
	mu   sync.Mutex
	b    strings.Builder
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Contains(w.b.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// A run ends with the caller's usage: what today's jobs were charged, and
// what is left of the budget (one GET /usage, after everything else).
func TestARunEndsWithTheCallersUsage(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(c *httpapi.Config) { c.Budgets = jobs.Budgets{TokensPerDay: 1_000_000, ActiveJobs: 100} })
	input := writeInput(t, t.TempDir(), prompts(5)...)
	o := a.options(t, input, nil)
	o.Wait = true
	var out strings.Builder
	o.Progress = &out
	sum, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	charged := sum.InputTokens + sum.OutputTokens
	u := sum.Usage
	if u == nil || u.Tokens.Charged != charged || u.Tokens.Reserved != 0 || u.Jobs.Active != 0 ||
		u.Budget == nil || u.Budget.Remaining != 1_000_000-charged {
		t.Fatalf("usage %+v, want %d charged, nothing reserved or active", u, charged)
	}
	if a.usageCalls.Load() != 1 {
		t.Errorf("%d GET /usage calls, want 1", a.usageCalls.Load())
	}
	want := fmt.Sprintf("%d tokens charged", charged)
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "daily tokens left") ||
		!strings.Contains(out.String(), "at list prices") {
		t.Errorf("summary %q lacks %q and what is left", out.String(), want)
	}
}

// --economy submits every line on the economy lane, with the fallback when
// asked; where the deployment has no economy lane the API's 400 names the
// lane and nothing is created.
func TestEconomySubmitsOnTheEconomyLane(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(c *httpapi.Config) { c.Economy = true })
	input := writeInput(t, t.TempDir(), prompts(3)...)
	o := a.options(t, input, nil)
	o.Economy, o.EconomyFallback = true, true
	if _, err := Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	got := a.jobsOf(t, "alice")
	if len(got) != 3 {
		t.Fatalf("%d jobs, want 3", len(got))
	}
	for _, j := range got {
		if j.Lane != jobs.LaneEconomy || !j.EconomyFallback {
			t.Errorf("job %s on %s, fallback %v", j.ID, j.Lane, j.EconomyFallback)
		}
	}

	off := newAPI(t)
	o = off.options(t, writeInput(t, t.TempDir(), prompts(2)...), nil)
	o.Economy = true
	_, err := Run(t.Context(), o)
	if err == nil || !strings.Contains(err.Error(), "economy") {
		t.Errorf("where the lane is off: %v, want the API's refusal", err)
	}
	if n := len(off.jobsOf(t, "alice")); n != 0 {
		t.Errorf("%d jobs created where the lane is off", n)
	}
}
