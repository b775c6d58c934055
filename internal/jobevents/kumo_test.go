package jobevents_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
)

// streamCall is one DynamoDB Streams call in its wire protocol (AWS JSON
// 1.0), against kumo.
func streamCall(t *testing.T, url, action string, in, out any) {
	t.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDBStreams_20120810."+action)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", action, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// streamRecords reads every record of the table's stream from the start.
// A stream record's JSON is what Lambda puts in a DynamoDBEvent's records
// (Lambda adds eventSourceARN), so it decodes into aws-lambda-go's type as
// it comes.
func streamRecords(t *testing.T, url, streamARN string) events.DynamoDBEvent {
	t.Helper()
	var desc struct {
		StreamDescription struct{ Shards []struct{ ShardId string } }
	}
	streamCall(t, url, "DescribeStream", map[string]any{"StreamArn": streamARN}, &desc)
	var ev events.DynamoDBEvent
	for _, sh := range desc.StreamDescription.Shards {
		var it struct{ ShardIterator string }
		streamCall(t, url, "GetShardIterator", map[string]any{
			"StreamArn": streamARN, "ShardId": sh.ShardId, "ShardIteratorType": "TRIM_HORIZON",
		}, &it)
		var out struct {
			Records []events.DynamoDBEventRecord
		}
		streamCall(t, url, "GetRecords", map[string]any{"ShardIterator": it.ShardIterator}, &out)
		ev.Records = append(ev.Records, out.Records...)
	}
	return ev
}

// The store's real writes, read back from kumo's DynamoDB stream: a job
// that succeeds and one cancelled while queued are announced once each,
// with what the store wrote.
func TestHandleOnTheStreamOfTheStoresWrites(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	ctx := t.Context()
	table := standin.UniqueName(t)
	err := dynamo.CreateTable(ctx, k.DynamoDB, table, func(in *dynamodb.CreateTableInput) {
		in.StreamSpecification = &types.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages,
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := k.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	store := dynamo.New(k.DynamoDB, table, dynamo.Options{})

	newJob := func(lane jobs.Lane) jobs.Job {
		j, _, err := store.Create(ctx, jobs.Job{
			ID: jobs.NewID(), Owner: "owner-1", Lane: lane, Prompt: "SECRET prompt",
			Model: "m1", MaxTokens: 100,
		}, "")
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	done := newJob(jobs.LaneInteractive)
	claimed, err := store.Claim(ctx, done.Owner, done.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// As the worker finishes a job whose text came as it was written
	// (Appended): its chunk is a PutItem, its end an UpdateItem. kumo's
	// stream has no records of TransactWriteItems (DynamoDB's has), so a
	// job ended in a transaction (one counted in a budget, or whose text
	// was rewritten) cannot be read back here.
	if err := store.Finish(ctx, done.Owner, done.ID, claimed.Attempts, jobs.Progress{
		GeneratedText: "SECRET answer", Tokens: jobs.Tokens{Input: 11, Output: 22}, StopReason: "end_turn", Appended: true,
	}); err != nil {
		t.Fatal(err)
	}
	cancelled := newJob(jobs.LaneBulk)
	if _, err := store.Cancel(ctx, cancelled.Owner, cancelled.ID); err != nil {
		t.Fatal(err)
	}

	ev := streamRecords(t, k.URL, aws.ToString(d.Table.LatestStreamArn))
	if len(ev.Records) < 4 {
		t.Fatalf("%d stream records, want at least the 4 writes", len(ev.Records))
	}
	s := newSetup(t)
	resp, err := s.h.Handle(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v", resp, err)
	}
	got := details(t, s.bus.put)
	if len(got) != 2 {
		t.Fatalf("announced %d jobs, want 2: %+v", len(got), got)
	}
	if got[0].JobID != done.ID || got[0].Status != jobs.StatusSucceeded || got[0].Tokens.Output != 22 ||
		got[0].StartedAt == nil || got[0].DurationMs == nil || got[0].Owner != "owner-1" {
		t.Errorf("first event %+v, want job %s succeeded with 22 output tokens and its times", got[0], done.ID)
	}
	if got[1].JobID != cancelled.ID || got[1].Status != jobs.StatusCancelled || got[1].Lane != jobs.LaneBulk {
		t.Errorf("second event %+v, want job %s cancelled in the bulk lane", got[1], cancelled.ID)
	}
	for _, e := range s.bus.put {
		if strings.Contains(string(e.Detail), "SECRET") {
			t.Errorf("event carries text: %s", e.Detail)
		}
	}
}
