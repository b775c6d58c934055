package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/httpapi"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

func newTable(t *testing.T, k *standin.KumoServer) string {
	t.Helper()
	table := standin.UniqueName(t)
	if err := dynamo.CreateTable(t.Context(), k.DynamoDB, table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	return table
}

func TestCreateTableIsIdempotentAndEnablesTTL(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	table := newTable(t, k)
	if err := dynamo.CreateTable(t.Context(), k.DynamoDB, table); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}

	desc, err := k.DynamoDB.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("DescribeTable: %v", err)
	}
	keys := map[string]types.KeyType{}
	for _, ks := range desc.Table.KeySchema {
		keys[aws.ToString(ks.AttributeName)] = ks.KeyType
	}
	if keys["pk"] != types.KeyTypeHash || keys["sk"] != types.KeyTypeRange || len(keys) != 2 {
		t.Errorf("key schema = %v, want pk HASH and sk RANGE", keys)
	}

	ttl, err := k.DynamoDB.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("DescribeTimeToLive: %v", err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != "expires_at" ||
		d.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Errorf("TTL = %+v, want enabled on expires_at", d)
	}
}

// TestItemLayout pins the stored shape that docs/architecture.md describes
// and that operator scripts read: keys, attribute names and types.
func TestItemLayout(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	table := newTable(t, k)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s := dynamo.New(k.DynamoDB, table, dynamo.Options{Now: func() time.Time { return now }})

	j := jobs.Job{ID: jobs.NewID(), Owner: "sub-1", Prompt: "p", Model: "m", MaxTokens: 10, IdempotencyKey: "k1"}
	if _, _, err := s.Create(t.Context(), j, "fp"); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := s.Claim(t.Context(), j.Owner, j.ID, time.Minute); err != nil {
		t.Fatalf("Claim: %v", err)
	}

	item := rawItem(t, k, table, "USER#sub-1", "JOB#"+j.ID)
	wantS := map[string]string{
		"status":         "running",
		"prompt_preview": "p",
		"job_id":         j.ID,
		"created_at":     "2026-11-25T12:00:00Z",
		"started_at":     "2026-11-25T12:00:00Z",
	}
	for name, want := range wantS {
		if got, ok := item[name].(*types.AttributeValueMemberS); !ok || got.Value != want {
			t.Errorf("%s = %#v, want string %q", name, item[name], want)
		}
	}
	wantN := map[string]int64{
		"attempts":    1,
		"lease_until": now.Add(time.Minute).UnixMilli(),
		"expires_at":  now.Add(jobs.DefaultJobTTL).Unix(),
	}
	for name, want := range wantN {
		if got, ok := item[name].(*types.AttributeValueMemberN); !ok || got.Value != strconv.FormatInt(want, 10) {
			t.Errorf("%s = %#v, want number %d", name, item[name], want)
		}
	}

	rec := rawItem(t, k, table, "USER#sub-1", "IDEM#k1")
	if got, ok := rec["job_id"].(*types.AttributeValueMemberS); !ok || got.Value != j.ID {
		t.Errorf("idempotency record job_id = %#v, want %q", rec["job_id"], j.ID)
	}
	if got, ok := rec["expires_at"].(*types.AttributeValueMemberN); !ok ||
		got.Value != strconv.FormatInt(now.Add(jobs.IdempotencyTTL).Unix(), 10) {
		t.Errorf("idempotency record expires_at = %#v, want now+24h in epoch seconds", rec["expires_at"])
	}
}

func rawItem(t *testing.T, k *standin.KumoServer, table, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := k.DynamoDB.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk},
			"sk": &types.AttributeValueMemberS{Value: sk},
		},
	})
	if err != nil {
		t.Fatalf("GetItem %s %s: %v", pk, sk, err)
	}
	if len(out.Item) == 0 {
		t.Fatalf("no item %s %s", pk, sk)
	}
	return out.Item
}

func TestJobTTLOption(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s := dynamo.New(k.DynamoDB, newTable(t, k), dynamo.Options{JobTTL: time.Hour, Now: func() time.Time { return now }})
	got, _, err := s.Create(t.Context(), jobs.Job{ID: jobs.NewID(), Owner: "sub-1", Prompt: "p"}, "")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if want := now.Add(time.Hour); !got.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, want)
	}
}

// TestAWSErrorsBecomeKinds runs the real client against servers that fail
// the way DynamoDB can, and checks what the store's callers see.
func TestAWSErrorsBecomeKinds(t *testing.T) {
	t.Parallel()
	throttling := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}`))
	}))
	t.Cleanup(throttling.Close)
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(unavailable.Close)
	missingTable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}`))
	}))
	t.Cleanup(missingTable.Close)

	cutOff := cutOffServer(t, `{"Item":{"pk":{"S":"USER#sub-1"},"sk":{"S":"JOB#`)

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	// A store that does not answer before the caller's deadline (a
	// Lambda's, or a request's) passes while the call waits.
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the request first: only then does the server notice the
		// client hang up, which ends r's context.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(hanging.Close)
	soon, cancelSoon := context.WithTimeout(t.Context(), 50*time.Millisecond)
	t.Cleanup(cancelSoon)

	tests := []struct {
		name     string
		endpoint string
		ctx      context.Context
		want     jobs.Kind
	}{
		{"throttling", throttling.URL, t.Context(), jobs.KindUnavailable},
		{"service unavailable", unavailable.URL, t.Context(), jobs.KindUnavailable},
		{"connection refused", closedAddr(t), t.Context(), jobs.KindUnavailable},
		{"an answer cut off mid-body", cutOff.URL, t.Context(), jobs.KindUnavailable},
		{"a deadline reached while waiting", hanging.URL, soon, jobs.KindUnavailable},
		{"missing table", missingTable.URL, t.Context(), jobs.KindInternal},
		{"cancelled context", throttling.URL, cancelled, jobs.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// One attempt: the SDK's backoff would only slow the test.
			client := standin.DynamoDB(tt.endpoint, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
			s := dynamo.New(client, "jobs", dynamo.Options{})
			_, err := s.Get(tt.ctx, "sub-1", jobs.NewID())
			if err == nil {
				t.Fatal("Get succeeded")
			}
			if got := jobs.KindOf(err); got != tt.want {
				t.Errorf("kind = %s, want %s (error: %v)", got, tt.want, err)
			}
			if errors.Is(err, jobs.ErrNotFound) {
				t.Errorf("error %v matches ErrNotFound", err)
			}
		})
	}
}

// cutOffServer is an endpoint whose every answer breaks off: 200, then
// part of a body, less than its Content-Length announced (kumo does this
// now and then to a Query that races a write to the same partition).
func cutOffServer(t *testing.T, part string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("Content-Length", strconv.Itoa(len(part)+4096))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(part))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// closedAddr returns the URL of a port on 127.0.0.1 that nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}

// A store error that says nothing about the request reaches the client as
// 503 with Retry-After, not 500: GET /jobs over a store whose Query answer
// breaks off (what answered one GET /jobs in about 500 with 500 while
// economy jobs moved under make dev, issue 26). The API logs it with the
// request id the client was given, and the cause.
func TestAListWhoseAnswerBreaksOffIsA503(t *testing.T) {
	t.Parallel()
	cutOff := cutOffServer(t, `{"Count":1,"Items":[{"pk":{"S":"USER#alice"},"sk":{"S":"JOB#`)
	store := dynamo.New(standin.DynamoDB(cutOff.URL, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }), "jobs", dynamo.Options{})
	var logs strings.Builder
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	svc, err := submit.New(submit.Config{Logger: logger}, submit.Deps{Store: store, Queue: &inmem.Queue{}, Budget: store})
	if err != nil {
		t.Fatal(err)
	}
	auth := httpapi.AuthenticatorFunc(func(context.Context, string) (string, error) { return "alice", nil })
	h, err := httpapi.New(httpapi.Config{Limits: jobs.DefaultLimits(), Logger: logger}, httpapi.Deps{Store: store, Submit: svc, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/jobs", nil)
	r.Header.Set("Authorization", "Bearer token")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)

	var e struct {
		Error struct {
			Code      string `json:"code"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	if w.Code != http.StatusServiceUnavailable || e.Error.Code != "unavailable" || w.Header().Get("Retry-After") == "" {
		t.Errorf("GET /jobs: %d %s (Retry-After %q), want 503 unavailable with Retry-After", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	var logged bool
	for line := range strings.Lines(logs.String()) {
		var l struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
			Error     string `json:"error"`
		}
		_ = json.Unmarshal([]byte(line), &l)
		if l.Msg == "request failed" && l.RequestID == e.Error.RequestID && strings.Contains(l.Error, "unexpected EOF") {
			logged = true
		}
	}
	if e.Error.RequestID == "" || !logged {
		t.Errorf("no log line with the request id %q and the cause:\n%s", e.Error.RequestID, logs.String())
	}
}

// A search reads at most SearchPages pages of jobs a request: one whose
// pages run out before it has found a page of matches answers with what it
// found and a cursor, and following the cursors finds every match, in
// order, once.
func TestASearchReadsABoundedPartOfTheHistoryARequest(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	s := dynamo.New(standin.DynamoDB(k.URL), newTable(t, k), dynamo.Options{SearchPageJobs: 3})
	ctx := t.Context()
	var want []string
	for i := range 40 {
		prompt := fmt.Sprintf("Job %d.", i)
		if i%9 == 0 {
			prompt += " A needle."
		}
		j, _, err := s.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: "sub-1", Prompt: prompt, Model: jobs.DefaultModel, MaxTokens: 10}, "")
		if err != nil {
			t.Fatal(err)
		}
		if i%9 == 0 {
			want = append([]string{j.ID}, want...)
		}
	}
	var got []string
	requests, short := 0, 0
	for cursor := ""; ; {
		p, err := s.Search(ctx, "sub-1", []string{"needle"}, 20, cursor)
		if err != nil {
			t.Fatal(err)
		}
		requests++
		if p.NextCursor != "" && len(p.Jobs) < 20 {
			short++
		}
		for _, j := range p.Jobs {
			got = append(got, j.ID)
		}
		if cursor = p.NextCursor; cursor == "" || requests > 10 {
			break
		}
	}
	// 40 jobs, 3 a page, 4 pages a request: 4 requests, the first three
	// with fewer matches than asked for and a cursor.
	if !slices.Equal(got, want) || requests != 4 || short != 3 {
		t.Errorf("found %v in %d requests (%d short with a cursor); want %v in 4 (3 short)", got, requests, short, want)
	}
}
