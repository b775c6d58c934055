package dynamo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/httpapi"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

// budgetAPI is the API over HTTP on a DynamoDB store on kumo (the queue in
// memory): submissions go over both wires as in AWS.
type budgetAPI struct {
	url   string
	store *dynamo.Store
	queue *inmem.Queue
}

func newBudgetAPI(t *testing.T, b jobs.Budgets) *budgetAPI {
	t.Helper()
	k, table := limitsTable(t)
	store := dynamo.New(k.DynamoDB, table, dynamo.Options{})
	queue := &inmem.Queue{}
	logger := slog.New(slog.DiscardHandler)
	svc, err := submit.New(submit.Config{Budgets: b, Logger: logger}, submit.Deps{Store: store, Queue: queue, Budget: store})
	if err != nil {
		t.Fatal(err)
	}
	auth := httpapi.AuthenticatorFunc(func(_ context.Context, token string) (string, error) {
		return strings.TrimPrefix(token, "token-"), nil
	})
	h, err := httpapi.New(httpapi.Config{Limits: jobs.DefaultLimits(), Budgets: b, Logger: logger},
		httpapi.Deps{Store: store, Submit: svc, Auth: auth, Usage: store})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &budgetAPI{url: srv.URL, store: store, queue: queue}
}

func (a *budgetAPI) post(t *testing.T, user, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", a.url+path, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	req.Header.Set("Authorization", "Bearer token-"+user)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var e struct {
		Error struct{ Field string } `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	return res.StatusCode, e.Error.Field
}

// storedJobs counts the user's jobs in the table.
func (a *budgetAPI) storedJobs(t *testing.T, user string) int {
	t.Helper()
	p, err := a.store.List(t.Context(), user, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	return len(p.Jobs)
}

// concurrently sends n submissions at once and counts the answers by
// status and refused field.
func (a *budgetAPI) concurrently(t *testing.T, n int, user, path, body string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			status, field := a.post(t, user, path, body)
			mu.Lock()
			got[fmt.Sprint(status, " ", field)]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return got
}

// 60 submissions of one user at once, over HTTP and DynamoDB: exactly as
// many pass as the daily token budget holds, the rest are 429 naming it,
// and nothing of theirs is stored or queued.
func TestConcurrentSubmissionsNeverOvershootTheTokenBudget(t *testing.T) {
	t.Parallel()
	body := `{"prompt":"Write a haiku about queues.","max_tokens":500}`
	worst := jobs.Request{Prompt: "Write a haiku about queues.", MaxTokens: 500}.WorstCaseTokens()
	a := newBudgetAPI(t, jobs.Budgets{TokensPerDay: 10*worst + worst/2, ActiveJobs: 1000})
	got := a.concurrently(t, 60, "alice", "/generate", body)
	if got["202 "] != 10 || got["429 tokens_per_day"] != 50 {
		t.Errorf("answers %v, want 10 accepted and 50 refused for tokens_per_day", got)
	}
	if n, sent := a.storedJobs(t, "alice"), len(a.queue.Sent()); n != 10 || sent != 10 {
		t.Errorf("%d jobs stored, %d queued; want 10 of each", n, sent)
	}
	u, err := a.store.Usage(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.Committed != 10*worst || u.Active != 10 {
		t.Errorf("usage %+v, want %d tokens and 10 jobs held", u, 10*worst)
	}
}

// 60 single submissions and 60 batches of three at once: the active jobs
// never pass the cap, not even by one.
func TestConcurrentSubmissionsNeverOvershootTheActiveJobsCap(t *testing.T) {
	t.Parallel()
	a := newBudgetAPI(t, jobs.Budgets{TokensPerDay: 10_000_000, ActiveJobs: 7})
	got := a.concurrently(t, 60, "alice", "/generate", `{"prompt":"p"}`)
	if got["202 "] != 7 || got["429 active_jobs"] != 53 {
		t.Errorf("answers %v, want 7 accepted and 53 refused for active_jobs", got)
	}
	if n := a.storedJobs(t, "alice"); n != 7 {
		t.Errorf("%d jobs stored, want 7", n)
	}
	batch := `{"requests":[{"prompt":"a"},{"prompt":"b"},{"prompt":"c"}]}`
	got = a.concurrently(t, 60, "bob", "/generate/batch", batch)
	if got["202 "] != 2 || got["429 active_jobs"] != 58 {
		t.Errorf("batches: answers %v, want 2 accepted (6 jobs of 7) and 58 refused", got)
	}
	if n := a.storedJobs(t, "bob"); n != 6 {
		t.Errorf("%d of bob's jobs stored, want 6", n)
	}
}

// A 5 MiB batch as the day's first submission (no counter yet) is worth
// about 5.1M tokens: refused whole by a budget of 2M, as 429 naming
// tokens_per_day, with nothing stored, queued or reserved.
func TestAFiveMebibyteBatchAsTheDaysFirstIsRefused(t *testing.T) {
	t.Parallel()
	a := newBudgetAPI(t, jobs.Budgets{TokensPerDay: 2_000_000, ActiveJobs: 1000})
	var sb strings.Builder
	sb.WriteString(`{"requests":[`)
	prompt := strings.Repeat("x", 52_000)
	for i := range 100 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"prompt":%q}`, prompt)
	}
	sb.WriteString(`]}`)
	if n := sb.Len(); n < 5_000_000 || n > 5<<20 {
		t.Fatalf("batch is %d bytes, want about 5 MiB", n)
	}
	status, field := a.post(t, "alice", "/generate/batch", sb.String())
	if status != 429 || field != "tokens_per_day" {
		t.Errorf("5 MiB batch: %d %q, want 429 tokens_per_day", status, field)
	}
	u, err := a.store.Usage(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if n := a.storedJobs(t, "alice"); n != 0 || len(a.queue.Sent()) != 0 || u.Committed != 0 || u.Active != 0 {
		t.Errorf("a refused batch left %d jobs, %d messages, usage %+v", n, len(a.queue.Sent()), u)
	}
}
