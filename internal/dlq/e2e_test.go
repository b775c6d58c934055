package dlq_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dlq"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// A job whose model fails mid-stream on every attempt ends in the dead-letter
// queue, failed; list shows it, a dry run changes nothing, and once the
// cause is fixed a replay brings it back and it succeeds, once.
func TestAFailingJobIsListedReplayedAndSucceedsOnceItsCauseIsFixed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	model := newSwitchModel(true)
	b.startWorker(model)
	j := b.submit("Name three rivers.")

	b.eventually("the message reached the dead-letter queue", func() bool { return b.depth(b.dlqURL) == 1 })
	failed := b.job(j.ID)
	if failed.Status != jobs.StatusFailed || failed.Failure == nil || failed.Failure.Code != jobs.FailureRetries {
		t.Fatalf("job in the dead-letter queue is %s with failure %+v, want failed with %s", failed.Status, failed.Failure, jobs.FailureRetries)
	}

	l := b.list()
	if l.Visible+l.InFlight != 1 || len(l.Messages) != 1 {
		t.Fatalf("list: %d visible, %d in flight, messages %+v; want the one message", l.Visible, l.InFlight, l.Messages)
	}
	e := l.Messages[0]
	if e.JobID != j.ID || e.Owner != owner || e.Status != "failed" || e.FailureCode != jobs.FailureRetries ||
		!strings.Contains(e.Reason, "broke off") || e.ReceiveCount < 1 || e.SentAt.IsZero() {
		t.Errorf("list entry %+v, want job %s of %s, failed with %s (the model's reason), a receive count and a sent time", e, j.ID, owner, jobs.FailureRetries)
	}
	if r := b.run("", false, "list"); r.code != dlq.ExitOK || !strings.Contains(r.stdout, j.ID) || !strings.Contains(r.stdout, jobs.FailureRetries) {
		t.Errorf("list (text): exit %d, output %q; want 0 and a row with the job and its reason", r.code, r.stdout)
	}

	dry := b.run("", false, "replay", "--dry-run")
	if dry.code != dlq.ExitOK || !strings.Contains(dry.stdout, "would replay job "+j.ID) {
		t.Errorf("replay --dry-run: exit %d, output %q; want 0 and the job it would replay", dry.code, dry.stdout)
	}
	if after := b.job(j.ID); after.Status != jobs.StatusFailed || !after.UpdatedAt.Equal(failed.UpdatedAt) {
		t.Errorf("after a dry run the job is %s, updated %v; want it untouched (failed, updated %v)", after.Status, after.UpdatedAt, failed.UpdatedAt)
	}
	if n := b.depth(b.dlqURL); n != 1 {
		t.Errorf("after a dry run the dead-letter queue holds %d messages, want 1", n)
	}

	model.failing.Store(false) // the cause is fixed
	r := b.run("", false, "replay")
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "replayed job "+j.ID) {
		t.Fatalf("replay: exit %d, output %q; want 0 and the job replayed", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "job set back to queued") || !strings.Contains(r.stderr, "job_id="+j.ID) {
		t.Errorf("replay logged %q; want each action with the job id", r.stderr)
	}
	b.eventually("the replayed job succeeded", func() bool { return b.job(j.ID).Status == jobs.StatusSucceeded })
	if n := b.depth(b.dlqURL); n != 0 {
		t.Errorf("after the replay the dead-letter queue holds %d messages, want 0", n)
	}
	if n := model.succeeded.Load(); n != 1 {
		t.Errorf("the model produced %d results, want 1", n)
	}
	if r := b.run("", false, "list"); r.code != dlq.ExitNothing {
		t.Errorf("list of an empty queue: exit %d, want %d", r.code, dlq.ExitNothing)
	}
	if r := b.run("", false, "replay"); r.code != dlq.ExitNothing {
		t.Errorf("replay of an empty queue: exit %d, want %d", r.code, dlq.ExitNothing)
	}
}

// cancelAfterSend is the jobs queue of an operator whose replay is
// interrupted (Ctrl-C, a lost connection) right after a message was sent,
// before its dead letter is deleted.
type cancelAfterSend struct {
	q      *sqsqueue.Lanes
	cancel context.CancelFunc
}

func (c cancelAfterSend) Send(ctx context.Context, m jobs.Message) error {
	err := c.q.Send(ctx, m)
	c.cancel()
	return err
}

func TestAReplayInterruptedBetweenSendAndDeleteLosesNothingAndRunsTheJobOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	model := newSwitchModel(true)
	b.startWorker(model)
	j := b.submit("Summarise the water cycle.")
	b.eventually("the message reached the dead-letter queue", func() bool { return b.depth(b.dlqURL) == 1 })
	model.failing.Store(false)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s, err := b.tool(cancelAfterSend{b.queue, cancel}).Replay(ctx, dlq.ReplayOptions{})
	if !errors.Is(err, context.Canceled) || s.Replayed != 0 {
		t.Fatalf("interrupted replay: %+v, %v; want nothing counted as replayed and the cancellation", s, err)
	}
	// The message went to the jobs queue and the job runs; its dead letter
	// is still there, shown again at once.
	b.eventually("the job succeeded", func() bool { return b.job(j.ID).Status == jobs.StatusSucceeded })
	done := b.job(j.ID)
	if n := b.depth(b.dlqURL); n != 1 {
		t.Fatalf("the interrupted replay left %d dead letters, want its 1 (never 0: that could be a loss)", n)
	}

	// Running the replay again removes the stale copy without a rerun.
	r := b.run("", false, "replay")
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "job already succeeded") {
		t.Errorf("second replay: exit %d, output %q; want 0 and the stale message removed", r.code, r.stdout)
	}
	if n := b.depth(b.dlqURL); n != 0 {
		t.Errorf("the dead-letter queue holds %d messages after the second replay, want 0", n)
	}
	after := b.job(j.ID)
	if n := model.succeeded.Load(); n != 1 || after.Attempts != done.Attempts || !after.FinishedAt.Equal(done.FinishedAt) {
		t.Errorf("the model produced %d results and the job went from attempt %d (finished %v) to %d (finished %v); want one result and no second run",
			n, done.Attempts, done.FinishedAt, after.Attempts, after.FinishedAt)
	}
}

// failingSend is a jobs queue that cannot be reached.
type failingSend struct{}

func (failingSend) Send(context.Context, jobs.Message) error { return errors.New("connection refused") }

func TestAReplayInterruptedBeforeTheSendLeavesTheMessageForTheNextReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.deadJob("Explain tides.")

	s, err := b.tool(failingSend{}).Replay(t.Context(), dlq.ReplayOptions{})
	if err == nil || s.Replayed != 0 {
		t.Fatalf("replay with an unreachable jobs queue: %+v, %v; want an error", s, err)
	}
	if got := b.job(j.ID).Status; got != jobs.StatusQueued {
		t.Errorf("job is %s, want queued (requeued before the send)", got)
	}
	if n := b.depth(b.dlqURL); n != 1 {
		t.Fatalf("dead-letter queue holds %d messages, want the 1 that was not sent", n)
	}
	if n := b.depth(b.queueURL); n != 0 {
		t.Fatalf("jobs queue holds %d messages, want 0", n)
	}

	r := b.run("", false, "replay")
	if r.code != dlq.ExitOK || b.depth(b.dlqURL) != 0 || b.depth(b.queueURL) != 1 {
		t.Errorf("second replay: exit %d; dead-letter queue %d, jobs queue %d; want 0, 0, 1", r.code, b.depth(b.dlqURL), b.depth(b.queueURL))
	}
}

func TestTwoOperatorsReplayingAtOnceMoveEachMessageOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	want := map[string]bool{}
	for range 12 {
		want[b.deadJob("Count to ten.").ID] = true
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		total   int
		runErrs []error
	)
	for range 2 {
		wg.Go(func() {
			s, err := b.tool(b.queue).Replay(t.Context(), dlq.ReplayOptions{})
			mu.Lock()
			defer mu.Unlock()
			total += s.Replayed
			if err != nil {
				runErrs = append(runErrs, err)
			}
		})
	}
	wg.Wait()
	if len(runErrs) > 0 || total != len(want) {
		t.Fatalf("two replays moved %d messages (errors %v), want %d", total, runErrs, len(want))
	}
	got, err := receiveJobs(t, b)
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range got {
		if !want[id] || n != 1 {
			t.Errorf("job %s has %d messages in the jobs queue, want 1", id, n)
		}
	}
	if len(got) != len(want) || b.depth(b.dlqURL) != 0 {
		t.Errorf("jobs queue has messages of %d jobs and the dead-letter queue %d messages; want %d and 0", len(got), b.depth(b.dlqURL), len(want))
	}
	for id := range want {
		if st := b.job(id).Status; st != jobs.StatusQueued {
			t.Errorf("job %s is %s, want queued", id, st)
		}
	}
}

// receiveJobs drains the jobs queue and counts the messages per job.
func receiveJobs(t *testing.T, b *bundle) (map[string]int, error) {
	return receiveJobsFrom(t, b, b.queueURL)
}

// receiveJobsFrom counts the messages of each job in the queue at url.
func receiveJobsFrom(t *testing.T, b *bundle, url string) (map[string]int, error) {
	t.Helper()
	got := map[string]int{}
	for {
		letters, err := sqsqueue.NewDeadLetterQueue(b.sqs, url).Receive(t.Context(), 10, 30*time.Second)
		if err != nil || len(letters) == 0 {
			return got, err
		}
		for _, l := range letters {
			m, err := sqsqueue.ParseMessage(l.Body)
			if err != nil {
				return got, err
			}
			got[m.JobID]++
		}
	}
}
