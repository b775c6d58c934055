package worker_test

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dev/storetest"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/submit"
	"github.com/promptq/promptq/internal/worker"
)

// A batch its lane holds back (its owner runs their fair share) goes from
// worker to worker, each sending its messages back to wait. Its owner
// replays the batch again and again, minutes apart, longer than the API's
// resend threshold: every job keeps exactly one live message in the bulk
// queue, since each send-back counts as a worker taking the job. Over the
// wire: the API's submission, the worker, the job store, the fair shares
// and the queues on kumo, all on one clock that the test moves 90 s a
// round (the queue's delays are real, a second or two).
func TestWireReplaysOfAHeldBackBatchKeepOneMessageAJob(t *testing.T) {
	t.Parallel()
	const (
		batch  = 3
		rounds = 6
	)
	be := standin.NewBackend(t, sqsqueue.QueueOptions{MaxReceiveCount: 5})
	clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
	store := be.Store(dynamo.Options{Now: clock.Now})
	shares := dynamo.NewShares(be.Kumo.DynamoDB, be.Table, clock.Now)
	lanes := be.Lanes()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	svc, err := submit.New(submit.Config{Now: clock.Now, Logger: logger}, submit.Deps{Store: store, Queue: lanes, Lanes: shares})
	if err != nil {
		t.Fatal(err)
	}
	cfg := wireConfig(5)
	cfg.QueueURLs = be.QueueURLs
	wk, err := worker.New(store, lanes, fast(), cfg, worker.Options{Shares: shares, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	bulkURL := be.QueueURLs[jobs.LaneBulk]
	bulkARN, err := sqsqueue.QueueARN(t.Context(), be.Kumo.SQS, bulkURL)
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{t: t, sqs: be.Kumo.SQS, queueURL: bulkURL, arn: bulkARN, backend: be}

	// Bob has work waiting in the bulk lane, and the owner runs their
	// share of it already (jobs of theirs elsewhere, each in a slot).
	ctx := t.Context()
	bulk := cfg.Quota.Split().Of(jobs.LaneBulk)
	holdBack := func() {
		t.Helper()
		if err := shares.Waiting(ctx, jobs.LaneBulk, "bob", 1); err != nil {
			t.Fatal(err)
		}
	}
	holdBack()
	for i := range quota.FairShare(bulk, 2) {
		if slot, err := shares.Acquire(ctx, jobs.LaneBulk, owner, "running-"+strconv.Itoa(i), bulk, clock.Now().Add(time.Hour)); err != nil || slot != quota.SlotTaken {
			t.Fatalf("Acquire of the owner's running job %d = %v, %v", i, slot, err)
		}
	}

	var entries []submit.Entry
	for i := range batch {
		entries = append(entries, submit.Entry{IdempotencyKey: "held-" + strconv.Itoa(i),
			Request: jobs.Request{Prompt: "Say something " + strconv.Itoa(i), Model: jobs.DefaultModel, MaxTokens: 20, Lane: jobs.LaneBulk}})
	}
	ids := map[string]bool{}
	for _, r := range submitOrFail(t, svc, entries) {
		ids[r.Job.ID] = true
	}

	for round := 1; round <= rounds; round++ {
		// The workers receive each job's message and send it back: the
		// owner is at their share.
		seen := map[string]bool{}
		for len(seen) < batch {
			ev, ok := w.receive(ctx, 10)
			if !ok {
				continue
			}
			for _, m := range ev.Records {
				var msg jobs.Message
				if err := json.Unmarshal([]byte(m.Body), &msg); err != nil || !ids[msg.JobID] {
					t.Fatalf("round %d: message %q names none of the batch's jobs", round, m.Body)
				}
				seen[msg.JobID] = true
			}
			resp, err := wk.Handle(ctx, ev)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("round %d: Handle = %+v, %v; want every message sent back and acknowledged", round, resp, err)
			}
			w.settle(ev, resp)
		}

		// Later than the resend threshold after the batch was sent (from
		// the second round on), its owner replays it.
		clock.Advance(90 * time.Second)
		holdBack()
		for i, r := range submitOrFail(t, svc, entries) {
			if !r.Replayed || !ids[r.Job.ID] || r.Job.Status != jobs.StatusQueued {
				t.Fatalf("round %d: replay of entry %d = %+v, want its queued job", round, i, r)
			}
		}
		d, err := sqsqueue.QueueDepth(ctx, be.Kumo.SQS, bulkURL)
		if err != nil {
			t.Fatal(err)
		}
		if live := d.Visible + d.InFlight + d.Delayed; live != batch {
			t.Fatalf("round %d: %d live messages in the bulk queue (%+v) for %d queued jobs, want one a job", round, live, d, batch)
		}
	}
	for id := range ids {
		if j, err := store.Get(ctx, owner, id); err != nil || j.Status != jobs.StatusQueued || j.Attempts != 0 {
			t.Errorf("job %s: %s after %d claims (%v), want queued and never claimed", id, j.Status, j.Attempts, err)
		}
	}
}

func submitOrFail(t *testing.T, svc *submit.Service, entries []submit.Entry) []submit.Result {
	t.Helper()
	res, err := svc.Submit(t.Context(), owner, entries)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("entry %d: %v", i, r.Err)
		}
	}
	return res
}

// A lane whose every slot runs long jobs leaves messages visible, not
// received, for longer than the resend threshold. Replays of a job then
// waiting add no message: its message is among those waiting. Once the
// lane's queue is empty, a replay of a job whose message was lost (its
// first request died after storing it) sends it again.
func TestWireReplaysInABusyLaneAddNoMessages(t *testing.T) {
	t.Parallel()
	be := standin.NewBackend(t, sqsqueue.QueueOptions{MaxReceiveCount: 5})
	clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
	store := be.Store(dynamo.Options{Now: clock.Now})
	lanes := be.Lanes()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	svc, err := submit.New(submit.Config{Now: clock.Now, Logger: logger}, submit.Deps{Store: store, Queue: lanes, Depth: lanes})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	entries := []submit.Entry{{IdempotencyKey: "busy-0",
		Request: jobs.Request{Prompt: "Wait your turn", Model: jobs.DefaultModel, MaxTokens: 20, Lane: jobs.LaneBulk}}}
	first := submitOrFail(t, svc, entries)[0].Job
	live := func() int {
		t.Helper()
		d, err := sqsqueue.QueueDepth(ctx, be.Kumo.SQS, be.QueueURLs[jobs.LaneBulk])
		if err != nil {
			t.Fatal(err)
		}
		return d.Visible + d.InFlight + d.Delayed
	}
	for round := 1; round <= 5; round++ {
		clock.Advance(3 * time.Minute) // no worker is free to receive it
		submitOrFail(t, svc, entries)
		if n := live(); n != 1 {
			t.Fatalf("round %d: %d live messages for one waiting job, want 1", round, n)
		}
	}
	// Its message is lost (here, received and deleted without a claim):
	// with the lane's queue empty, a replay sends it again.
	r := sqsqueue.NewReceiver(be.Kumo.SQS, be.QueueURLs[jobs.LaneBulk])
	msgs, err := r.Receive(ctx, 10, time.Minute)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d messages, %v", len(msgs), err)
	}
	if err := r.Delete(ctx, msgs[0].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Minute)
	if res := submitOrFail(t, svc, entries); res[0].Job.ID != first.ID || live() != 1 {
		t.Errorf("a replay of a job whose message was lost, its lane's queue empty: %d live messages, want 1", live())
	}
}
