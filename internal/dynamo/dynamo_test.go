package dynamo_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
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

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	tests := []struct {
		name     string
		endpoint string
		ctx      context.Context
		want     jobs.Kind
	}{
		{"throttling", throttling.URL, t.Context(), jobs.KindUnavailable},
		{"service unavailable", unavailable.URL, t.Context(), jobs.KindUnavailable},
		{"connection refused", closedAddr(t), t.Context(), jobs.KindUnavailable},
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
