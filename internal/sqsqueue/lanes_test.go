package sqsqueue_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

func TestEachLaneHasItsQueueAndAllShareTheDeadLetterQueue(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	name := standin.UniqueName(t)
	urls, dlqURL, err := sqsqueue.CreateLaneQueues(t.Context(), k.SQS, name, sqsqueue.QueueOptions{MaxReceiveCount: 3})
	if err != nil {
		t.Fatalf("CreateLaneQueues: %v", err)
	}
	if !strings.HasSuffix(urls[jobs.LaneInteractive], "/"+name) || !strings.HasSuffix(urls[jobs.LaneBulk], "/"+name+"-bulk") || !strings.HasSuffix(dlqURL, "/"+name+"-dlq") {
		t.Fatalf("queues %v and %s are not named %s, %s-bulk and %s-dlq", urls, dlqURL, name, name, name)
	}
	dlqARN, err := sqsqueue.QueueARN(t.Context(), k.SQS, dlqURL)
	if err != nil {
		t.Fatal(err)
	}
	for lane, url := range urls {
		out, err := k.SQS.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy},
		})
		if err != nil {
			t.Fatal(err)
		}
		var redrive struct {
			Target string `json:"deadLetterTargetArn"`
			Max    any    `json:"maxReceiveCount"`
		}
		_ = json.Unmarshal([]byte(out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]), &redrive)
		if redrive.Target != dlqARN {
			t.Errorf("the %s queue redrives to %q, want the shared dead-letter queue %s", lane, redrive.Target, dlqARN)
		}
	}

	lanes, err := sqsqueue.NewLanes(k.SQS, urls)
	if err != nil {
		t.Fatal(err)
	}
	bulk := jobs.Message{JobID: jobs.NewID(), Owner: "sub-1", Lane: jobs.LaneBulk}
	interactive := jobs.Message{JobID: jobs.NewID(), Owner: "sub-1", Lane: jobs.LaneInteractive}
	old := jobs.Message{JobID: jobs.NewID(), Owner: "sub-2"} // from before lanes
	if err := lanes.Send(t.Context(), bulk); err != nil {
		t.Fatal(err)
	}
	for i, err := range lanes.SendBatch(t.Context(), []jobs.Message{interactive, bulk, old}) {
		if err != nil {
			t.Fatalf("SendBatch[%d]: %v", i, err)
		}
	}
	// Queued counts what waits: the bulk lane's two, and one sent to come
	// back later; the interactive lane's two.
	if err := lanes.SendAfter(t.Context(), bulk, time.Minute); err != nil {
		t.Fatal(err)
	}
	for lane, want := range map[jobs.Lane]int{jobs.LaneBulk: 3, jobs.LaneInteractive: 2} {
		if n, err := lanes.Queued(t.Context(), lane); err != nil || n != want {
			t.Errorf("Queued(%s) = %d, %v; want %d", lane, n, err, want)
		}
	}
	ids := func(url string) map[string]int {
		got := map[string]int{}
		for _, m := range receive(t, k.SQS, url, 10) {
			msg, err := sqsqueue.ParseMessage(aws.ToString(m.Body))
			if err != nil {
				t.Fatal(err)
			}
			got[msg.JobID]++
		}
		return got
	}
	if got := ids(urls[jobs.LaneBulk]); len(got) != 1 || got[bulk.JobID] != 2 {
		t.Errorf("bulk queue holds %v, want the bulk job twice", got)
	}
	if got := ids(urls[jobs.LaneInteractive]); len(got) != 2 || got[interactive.JobID] != 1 || got[old.JobID] != 1 {
		t.Errorf("interactive queue holds %v, want the interactive job and the one without a lane", got)
	}

	if _, err := sqsqueue.NewLanes(k.SQS, sqsqueue.LaneURLs{jobs.LaneBulk: urls[jobs.LaneBulk]}); err == nil {
		t.Error("NewLanes without an interactive queue: no error")
	}
}

func TestSendAfterHidesTheMessageUntilItsDelayEnds(t *testing.T) {
	t.Parallel()
	client, url, _ := setup(t, sqsqueue.QueueOptions{})
	q := sqsqueue.New(client, url)
	m := jobs.Message{JobID: jobs.NewID(), Owner: "sub-1", Lane: jobs.LaneBulk, Throttles: 2, ThrottledSince: 1796194430}
	start := time.Now()
	if err := q.SendAfter(t.Context(), m, 1500*time.Millisecond); err != nil { // rounds up to 2 s
		t.Fatalf("SendAfter: %v", err)
	}
	if got := receive(t, client, url, 10); len(got) != 0 && time.Since(start) < 2*time.Second {
		t.Fatalf("received %d messages before the delay ended", len(got))
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		got := receive(t, client, url, 10)
		if len(got) == 1 {
			if time.Since(start) < 2*time.Second {
				t.Errorf("the message came after %v, before its delay of 2 s", time.Since(start))
			}
			msg, err := sqsqueue.ParseMessage(aws.ToString(got[0].Body))
			if err != nil || msg != m {
				t.Errorf("got %+v (%v), want %+v", msg, err, m)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the delayed message never came")
}
