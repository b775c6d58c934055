package dynamo_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

// lossyProxy forwards to kumo but replaces kumo's answer to each call that
// lose picks (by its operation, such as "PutItem", and its request body)
// with a 500, as when DynamoDB applied a write and the answer was lost.
func lossyProxy(t *testing.T, k *standin.KumoServer, lose func(operation string, body []byte) bool) (endpoint string) {
	t.Helper()
	target, err := url.Parse(k.URL)
	if err != nil {
		t.Fatal(err)
	}
	type lost struct{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.Context().Value(lost{}) != nil {
			_ = r.Body.Close()
			body := `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"lost"}`
			r.StatusCode, r.Status = http.StatusInternalServerError, "500 Internal Server Error"
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
			r.Header.Del("Content-Length")
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if lose(strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810."), body) {
			r = r.WithContext(context.WithValue(r.Context(), lost{}, true))
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// firstOf loses the answer to the first call of operation; dropped
// reports whether it came.
func firstOf(operation string) (lose func(string, []byte) bool, dropped *atomic.Bool) {
	dropped = new(atomic.Bool)
	return func(op string, _ []byte) bool { return op == operation && dropped.CompareAndSwap(false, true) }, dropped
}

// retryAtOnce is the SDK's standard retryer with two attempts and no
// backoff, so the test does not wait.
func retryAtOnce(o *dynamodb.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 2
		so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
}

func TestCreateWhoseAnswerWasLostIsCreated(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	table := newTable(t, k)
	lose, dropped := firstOf("PutItem")
	endpoint := lossyProxy(t, k, lose)
	s := dynamo.New(standin.DynamoDB(endpoint, retryAtOnce), table, dynamo.Options{})

	j := jobs.Job{ID: jobs.NewID(), Owner: "sub-1", Prompt: "p", Model: "m", MaxTokens: 10}
	got, created, err := s.Create(t.Context(), j, "")
	if !dropped.Load() {
		t.Fatal("the proxy dropped no answer; the test tests nothing")
	}
	if err != nil || !created || got.ID != j.ID {
		t.Fatalf("Create = %s created %v err %v; want the job, created", got.ID, created, err)
	}

	// Another job that happens to have the same id is still a conflict.
	other := j
	other.Prompt = "another prompt"
	_, created, err = s.Create(t.Context(), other, "")
	if created || jobs.KindOf(err) != jobs.KindConflict {
		t.Errorf("Create of another job with the same id = created %v err %v; want a conflict", created, err)
	}
	if got, err := s.Get(t.Context(), j.Owner, j.ID); err != nil || got.Prompt != "p" {
		t.Errorf("stored job = %+v, %v; want the first one", got, err)
	}
}

func TestTransitionWhoseAnswerWasLostSucceeds(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	table := newTable(t, k)
	lose, dropped := firstOf("UpdateItem")
	endpoint := lossyProxy(t, k, lose)
	s := dynamo.New(standin.DynamoDB(endpoint, retryAtOnce), table, dynamo.Options{})

	j := jobs.Job{ID: jobs.NewID(), Owner: "sub-1", Prompt: "p", Model: "m", MaxTokens: 10}
	if _, _, err := s.Create(t.Context(), j, ""); err != nil {
		t.Fatalf("Create: %v", err)
	}
	// The claim is applied, its answer lost, and the SDK's retry finds
	// the job running: that is this claim's own doing, not a duplicate's.
	got, err := s.Claim(t.Context(), j.Owner, j.ID, time.Minute)
	if !dropped.Load() {
		t.Fatal("the proxy dropped no answer; the test tests nothing")
	}
	if err != nil || got.Status != jobs.StatusRunning || got.Attempts != 1 {
		t.Fatalf("Claim = %s attempt %d, %v; want running attempt 1", got.Status, got.Attempts, err)
	}

	// A real duplicate still conflicts.
	if _, err := s.Claim(t.Context(), j.Owner, j.ID, time.Minute); jobs.KindOf(err) != jobs.KindConflict {
		t.Errorf("second Claim: %v, want a conflict", err)
	}
}

// TestConflictUsesTheItemDynamoDBReturns covers what kumo cannot: real
// DynamoDB honours ReturnValuesOnConditionCheckFailure and sends the item
// with the ConditionalCheckFailedException, so no second read is needed.
func TestConflictUsesTheItemDynamoDBReturns(t *testing.T) {
	t.Parallel()
	id := jobs.NewID()
	var gets atomic.Int32
	var updated atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		switch r.Header.Get("X-Amz-Target") {
		case "DynamoDB_20120810.UpdateItem":
			updated.Store(true)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",`+
				`"message":"The conditional request failed","Item":{`+
				`"pk":{"S":"USER#sub-1"},"sk":{"S":"JOB#`+id+`"},"job_id":{"S":"`+id+`"},"owner":{"S":"sub-1"},`+
				`"status":{"S":"cancelled"},"prompt":{"S":"p"},"model":{"S":"m"},"max_tokens":{"N":"10"},`+
				`"input_tokens":{"N":"0"},"output_tokens":{"N":"0"},"attempts":{"N":"0"},`+
				`"created_at":{"S":"2026-11-25T12:00:00Z"},"updated_at":{"S":"2026-11-25T12:01:00Z"},"expires_at":{"N":"1800000000"}}}`)
		case "DynamoDB_20120810.GetItem":
			// The claim reads the job before its update: queued then.
			if body, _ := io.ReadAll(r.Body); strings.Contains(string(body), `"JOB#`+id) && !updated.Load() {
				_, _ = io.WriteString(w, `{"Item":{"pk":{"S":"USER#sub-1"},"sk":{"S":"JOB#`+id+`"},"job_id":{"S":"`+id+`"},"owner":{"S":"sub-1"},`+
					`"status":{"S":"queued"},"prompt_preview":{"S":"p"},"model":{"S":"m"},"max_tokens":{"N":"10"},`+
					`"input_tokens":{"N":"0"},"output_tokens":{"N":"0"},"attempts":{"N":"0"},`+
					`"created_at":{"S":"2026-11-25T12:00:00Z"},"updated_at":{"S":"2026-11-25T12:01:00Z"},"expires_at":{"N":"1800000000"}}}`)
				return
			} else if strings.Contains(string(body), `"IN#`+id) {
				_, _ = io.WriteString(w, `{}`)
				return
			}
			gets.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"unexpected"}`)
			return
		default:
			gets.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"unexpected"}`)
		}
	}))
	t.Cleanup(srv.Close)
	s := dynamo.New(standin.DynamoDB(srv.URL), "jobs", dynamo.Options{})

	cur, err := s.Claim(t.Context(), "sub-1", id, time.Minute)
	if jobs.KindOf(err) != jobs.KindConflict {
		t.Fatalf("Claim: %v, want a conflict", err)
	}
	if cur.ID != id || cur.Status != jobs.StatusCancelled {
		t.Errorf("Claim returned %s %s, want %s cancelled", cur.ID, cur.Status, id)
	}
	if n := gets.Load(); n != 0 {
		t.Errorf("the store made %d other calls after the conflict, want none", n)
	}
}

// A batch's job writes that DynamoDB applied but answered with errors (the
// answers lost, every retry's too): the submission reports the entries
// failed, and their jobs exist all the same, each holding its reservation,
// which it gives back when it ends. So the submission must not give it back
// as well: its owner would get the tokens and places twice, and another job
// of theirs (here one queued before) would lose its reservation.
func TestABatchWriteThatLandedButFailedIsNotRefundedTwice(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	table := newTable(t, k)
	endpoint := lossyProxy(t, k, func(op string, body []byte) bool {
		return op == "BatchWriteItem" && strings.Contains(string(body), `"JOB#`)
	})
	store := dynamo.New(standin.DynamoDB(endpoint, retryAtOnce), table, dynamo.Options{})
	svc, err := submit.New(submit.Config{Logger: slog.New(slog.DiscardHandler), Budgets: jobs.Budgets{TokensPerDay: 1_000_000, ActiveJobs: 100}},
		submit.Deps{Store: store, Queue: &inmem.Queue{}, Budget: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	entry := submit.Entry{Request: jobs.Request{Prompt: "p", Model: jobs.DefaultModel, MaxTokens: 100}}
	worst := entry.Request.WorstCaseTokens()
	wantUsage := func(what string, committed, active int) {
		t.Helper()
		u, err := store.Usage(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if u.Committed != committed || u.Active != active {
			t.Errorf("%s: %d tokens and %d jobs held, want %d and %d", what, u.Committed, u.Active, committed, active)
		}
	}

	if res, err := svc.Submit(ctx, "alice", []submit.Entry{entry}); err != nil || res[0].Err != nil {
		t.Fatalf("first submission: %v %+v", err, res)
	}
	res, err := svc.Submit(ctx, "alice", []submit.Entry{entry, entry})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err == nil {
			t.Fatalf("entry %d: %+v; want the write's error reported", i, r)
		}
	}
	page, err := store.List(ctx, "alice", 10, "")
	if err != nil || len(page.Jobs) != 3 {
		t.Fatalf("%d jobs stored (%v), want 3: the batch's writes landed", len(page.Jobs), err)
	}
	wantUsage("after the batch", 3*worst, 3)
	for _, j := range page.Jobs {
		if _, err := store.Cancel(ctx, "alice", j.ID); err != nil {
			t.Fatal(err)
		}
		if j.ID == page.Jobs[0].ID {
			wantUsage("after one of the batch's jobs ended", 2*worst, 2)
		}
	}
	wantUsage("after every job ended", 0, 0)
}
