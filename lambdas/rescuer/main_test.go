package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/rescue"
	"github.com/promptq/promptq/internal/sqsqueue"
)

const owner = "3c1d2f7a-5b6e-4f80-9a1b-2c3d4e5f6a7b"

// TestBootstrapUnderRIE builds the real bootstrap, runs it under
// aws-lambda-rie against kumo (DynamoDB, SQS) and sends it the scheduled
// event in testdata/, as EventBridge would. The table holds, from two hours
// ago, a job stored but never queued, a running job whose worker and
// message are gone, and a finished job; the run must send the first two
// again and leave the third.
func TestBootstrapUnderRIE(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	be := standin.NewBackend(t, sqsqueue.QueueOptions{MaxReceiveCount: 3})
	kumo, name, queueURL := be.Kumo, be.Table, be.QueueURL
	past := time.Now().Add(-2 * time.Hour)
	store := be.Store(dynamo.Options{Now: func() time.Time { return past }})
	newJob := func(prompt string) jobs.Job {
		j, _, err := store.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: owner, Prompt: prompt, Model: "m", MaxTokens: 50}, "")
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	lost := newJob("never queued")
	running := newJob("its worker died")
	if _, err := store.Claim(ctx, owner, running.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	done := newJob("finished long ago")
	c, err := store.Claim(ctx, owner, done.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Finish(ctx, owner, done.ID, c.Attempts, jobs.Progress{GeneratedText: "ok"}); err != nil {
		t.Fatal(err)
	}

	event, err := os.ReadFile("testdata/scheduled-event.json")
	if err != nil {
		t.Fatal(err)
	}
	fn := standin.StartRIE(t, standin.BuildLambda(t, "github.com/promptq/promptq/lambdas/rescuer"), append([]string{
		"AWS_REGION=" + standin.Region,
		"AWS_ACCESS_KEY_ID=standin", "AWS_SECRET_ACCESS_KEY=standin",
		"AWS_ENDPOINT_URL_DYNAMODB=" + kumo.URL,
		"AWS_ENDPOINT_URL_SQS=" + kumo.URL,
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"PROMPTQ_TABLE=" + name,
		"PROMPTQ_MAX_RECEIVE_COUNT=3",
		"PROMPTQ_RESCUE_AFTER=45m",
	}, be.QueueEnv()...)...)
	res, err := fn.Invoke(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	var rep rescue.Report
	if err := json.Unmarshal(res, &rep); err != nil {
		t.Fatalf("response %s: %v", res, err)
	}
	if rep != (rescue.Report{Stale: 2, Requeued: 2}) {
		t.Errorf("report %s, want 2 stale jobs requeued", res)
	}

	msgs, err := standin.ReceiveAll(ctx, kumo.SQS, queueURL)
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, m := range msgs {
		if m.Owner != owner {
			t.Errorf("message %+v: owner %q, want %q", m, m.Owner, owner)
		}
		sent = append(sent, m.JobID)
	}
	slices.Sort(sent)
	want := []string{lost.ID, running.ID}
	slices.Sort(want)
	if !slices.Equal(sent, want) {
		t.Errorf("queue holds messages for %v, want the lost and the dead-worker jobs %v", sent, want)
	}
	for _, id := range want {
		j, err := store.Get(ctx, owner, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != jobs.StatusQueued {
			t.Errorf("job %s is %s, want queued", id, j.Status)
		}
	}
	if j, err := store.Get(ctx, owner, done.ID); err != nil || j.Status != jobs.StatusSucceeded {
		t.Errorf("finished job = %s, %v; want it left succeeded", j.Status, err)
	}

	// A second run right away finds nothing (the messages were drained
	// above): the requeue restarted the jobs' clocks.
	res, err = fn.Invoke(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(res, &rep); err != nil || rep != (rescue.Report{}) {
		t.Errorf("second run: %s, want nothing to do", res)
	}

	logs := fn.Logs()
	if !strings.Contains(logs, `"requestId":`) || !strings.Contains(logs, `"job_id":"`+lost.ID+`"`) || !strings.Contains(logs, `"rescued":2`) {
		t.Errorf("logs lack requestId, the job id or the run's summary:\n%s", logs)
	}
	if strings.Contains(logs, "never queued") {
		t.Errorf("logs contain a prompt:\n%s", logs)
	}
}
