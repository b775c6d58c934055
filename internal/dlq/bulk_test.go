package dlq_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dlq"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// fakeRedriver does what SQS's message move task does, on kumo (which has
// none): it moves every message of the dead-letter queue back to the
// queue it came from (the lane its body names; SQS remembers the source
// itself). It records the jobs' statuses at the moment the move starts, so
// a test can tell whether they were requeued first.
type fakeRedriver struct {
	b *bundle

	mu        sync.Mutex
	tasks     []sqsqueue.RedriveTask
	started   int
	atStart   map[string]jobs.Status
	watchJobs []string
}

func (f *fakeRedriver) StartRedrive(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started++
	f.atStart = map[string]jobs.Status{}
	for _, id := range f.watchJobs {
		f.atStart[id] = f.b.job(id).Status
	}
	moved := int64(0)
	for {
		letters, err := f.b.dlq.Receive(ctx, 10, time.Minute)
		if err != nil {
			return "", err
		}
		if len(letters) == 0 {
			break
		}
		for _, l := range letters {
			source := f.b.urls[jobs.LaneInteractive]
			if m, err := sqsqueue.ParseMessage(l.Body); err == nil {
				source = f.b.urls[m.Lane.OrDefault()]
			}
			if _, err := f.b.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(source), MessageBody: aws.String(l.Body)}); err != nil {
				return "", err
			}
			if err := f.b.dlq.Delete(ctx, l.ReceiptHandle); err != nil {
				return "", err
			}
			moved++
		}
	}
	f.tasks = append([]sqsqueue.RedriveTask{{Status: "COMPLETED", Moved: moved, ToMove: moved, StartedAt: time.Now()}}, f.tasks...)
	return "task", nil
}

func (f *fakeRedriver) RedriveTasks(context.Context) ([]sqsqueue.RedriveTask, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sqsqueue.RedriveTask(nil), f.tasks...), nil
}

func bulkTool(b *bundle, r *fakeRedriver, out *standin.Buffer) *dlq.Tool {
	b.t.Helper()
	tool, err := dlq.New(dlq.Config{
		Store: b.store, Queue: b.queue, DeadLetters: b.dlq, DLQURL: b.dlqURL,
		Redriver: r, Out: out, PollInterval: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testWriter{b.t}, nil)),
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return tool
}

func TestBulkReplayRequeuesEveryJobBeforeSQSMovesTheMessages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []string
	for range 3 {
		ids = append(ids, b.deadJob("Bulk.").ID)
	}
	r := &fakeRedriver{b: b, watchJobs: ids}
	var out standin.Buffer

	dry, err := bulkTool(b, r, &out).Replay(t.Context(), dlq.ReplayOptions{Bulk: true, DryRun: true})
	if err != nil || !dry.Bulk || dry.Replayed != 3 || r.started != 0 {
		t.Fatalf("bulk dry run: %+v, %v, %d moves started; want 3 to replay and no move", dry, err, r.started)
	}
	for _, id := range ids {
		if st := b.job(id).Status; st != jobs.StatusFailed {
			t.Errorf("after a dry run job %s is %s, want failed", id, st)
		}
	}

	s, err := bulkTool(b, r, &out).Replay(t.Context(), dlq.ReplayOptions{Bulk: true})
	if err != nil || !s.Bulk || s.Replayed != 3 || r.started != 1 {
		t.Fatalf("bulk replay: %+v, %v, %d moves started; want 3 replayed in one move", s, err, r.started)
	}
	for _, id := range ids {
		if st := r.atStart[id]; st != jobs.StatusQueued {
			t.Errorf("job %s was %s when the move started, want queued", id, st)
		}
	}
	if n, q := b.depth(b.dlqURL), b.depth(b.queueURL); n != 0 || q != 3 {
		t.Errorf("dead-letter queue %d, jobs queue %d; want 0 and 3", n, q)
	}
	if !strings.Contains(out.String(), "moved 3 messages") {
		t.Errorf("output %q does not report the move", out.String())
	}
}

func TestBulkReplayGoesMessageByMessageWhenTheListingIsIncomplete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.deadJob("One.")
	b.deadJob("Two.")
	// Another operator holds one of them.
	held, err := b.dlq.Receive(t.Context(), 1, time.Hour)
	if err != nil || len(held) != 1 {
		t.Fatalf("receive: %v, %v", held, err)
	}
	r := &fakeRedriver{b: b}
	var out standin.Buffer
	s, err := bulkTool(b, r, &out).Replay(t.Context(), dlq.ReplayOptions{Bulk: true})
	if err != nil || s.Bulk || s.Replayed != 1 || r.started != 0 {
		t.Errorf("bulk replay with a message held elsewhere: %+v, %v, %d moves; want 1 replayed message by message, no move", s, err, r.started)
	}
	if !strings.Contains(out.String(), "message by message") {
		t.Errorf("output %q does not say it fell back", out.String())
	}
}

func TestBulkReplayRefusesWhileAMoveTaskRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.deadJob("Wait.")
	r := &fakeRedriver{b: b, tasks: []sqsqueue.RedriveTask{{Status: "RUNNING", TaskHandle: "other", StartedAt: time.Now()}}}
	_, err := bulkTool(b, r, &standin.Buffer{}).Replay(t.Context(), dlq.ReplayOptions{Bulk: true})
	if err == nil || !strings.Contains(err.Error(), "already RUNNING") || r.started != 0 {
		t.Errorf("bulk replay during another move: %v, %d moves; want a refusal", err, r.started)
	}
	if st := b.job(j.ID).Status; st != jobs.StatusFailed {
		t.Errorf("job is %s, want failed (untouched)", st)
	}
	if _, err := bulkTool(b, r, &standin.Buffer{}).Replay(t.Context(), dlq.ReplayOptions{Bulk: true, Filter: dlq.Filter{Reason: "x"}}); !errors.Is(err, dlq.ErrBulkWithFilter) {
		t.Errorf("bulk with a filter: %v, want ErrBulkWithFilter", err)
	}
}

// On kumo, which has no move tasks, --bulk still replays, one by one.
func TestBulkReplayOnAnEndpointWithoutMoveTasksGoesMessageByMessage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.deadJob("Fallback.")
	r := b.run("", false, "replay", "--bulk")
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "bulk move not possible") || !strings.Contains(r.stdout, "replayed job "+j.ID) {
		t.Errorf("replay --bulk on kumo: exit %d, stdout %q; want the fallback and the job replayed", r.code, r.stdout)
	}
	if st := b.job(j.ID).Status; st != jobs.StatusQueued || b.depth(b.queueURL) != 1 {
		t.Errorf("job %s, jobs queue %d; want queued and 1", st, b.depth(b.queueURL))
	}
}

func TestBulkReplayMovesNothingWhenNoMessageCanRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.sendDLQ(`{"job_id":"` + jobs.NewID() + `","owner":"` + owner + `"}`)
	b.sendDLQ(`garbage`)
	r := &fakeRedriver{b: b}
	s, err := bulkTool(b, r, &standin.Buffer{}).Replay(t.Context(), dlq.ReplayOptions{Bulk: true})
	if err != nil || s.Acted() || s.Skipped != 2 || r.started != 0 {
		t.Errorf("bulk replay of unreplayable messages: %+v, %v, %d moves; want 2 skipped and no move", s, err, r.started)
	}
	if n := b.depth(b.dlqURL); n != 2 {
		t.Errorf("dead-letter queue holds %d messages, want 2", n)
	}
}
