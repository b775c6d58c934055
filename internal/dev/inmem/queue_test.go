package inmem_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// queue is what the API and worker use of the lanes' queues: inmem.Queue
// must stand in for sqsqueue.Lanes wherever they do, so both must have it.
type queue interface {
	Send(ctx context.Context, m jobs.Message) error
	SendBatch(ctx context.Context, ms []jobs.Message) []error
	SendAfter(ctx context.Context, m jobs.Message, d time.Duration) error
	ChangeVisibility(ctx context.Context, lane jobs.Lane, receiptHandle string, d time.Duration) error
}

var (
	_ queue = (*inmem.Queue)(nil)
	_ queue = (*sqsqueue.Lanes)(nil)
)

func messages(n int) []jobs.Message {
	ms := make([]jobs.Message, n)
	for i := range ms {
		ms[i] = jobs.Message{JobID: jobs.NewID(), Owner: "sub-1"}
	}
	return ms
}

func TestQueueRecordsSends(t *testing.T) {
	t.Parallel()
	var q inmem.Queue
	ms := messages(4)
	if err := q.Send(t.Context(), ms[0]); err != nil {
		t.Fatalf("Send: %v", err)
	}
	for i, err := range q.SendBatch(t.Context(), ms[1:]) {
		if err != nil {
			t.Errorf("SendBatch entry %d: %v", i, err)
		}
	}
	if got := q.Sent(); !slices.Equal(got, ms) {
		t.Errorf("Sent() = %v, want %v", got, ms)
	}
}

func TestQueueErrFuncFailsChosenMessages(t *testing.T) {
	t.Parallel()
	var q inmem.Queue
	ms := messages(3)
	boom := errors.New("queue down")
	q.SetErrFunc(func(m jobs.Message) error {
		if m.JobID == ms[1].JobID {
			return boom
		}
		return nil
	})

	errs := q.SendBatch(t.Context(), ms)
	if len(errs) != len(ms) {
		t.Fatalf("SendBatch returned %d errors for %d messages", len(errs), len(ms))
	}
	for i, err := range errs {
		if want := i == 1; (err != nil) != want || (want && !errors.Is(err, boom)) {
			t.Errorf("entry %d: error %v", i, err)
		}
	}
	if err := q.Send(t.Context(), ms[1]); !errors.Is(err, boom) {
		t.Errorf("Send of the failing message: %v, want %v", err, boom)
	}
	if got, want := q.Sent(), []jobs.Message{ms[0], ms[2]}; !slices.Equal(got, want) {
		t.Errorf("Sent() = %v, want only the messages that did not fail %v", got, want)
	}

	q.SetErrFunc(nil)
	if err := q.Send(t.Context(), ms[1]); err != nil {
		t.Errorf("Send after SetErrFunc(nil): %v", err)
	}
}

func TestQueueIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	var q inmem.Queue
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_ = q.Send(t.Context(), messages(1)[0])
			_ = q.ChangeVisibility(t.Context(), jobs.LaneBulk, "h", time.Second)
		})
	}
	wg.Wait()
	if n := len(q.Sent()); n != 8 {
		t.Errorf("%d messages recorded, want 8", n)
	}
	if n := len(q.VisibilityChanges()); n != 8 {
		t.Errorf("%d visibility changes recorded, want 8", n)
	}
}

func TestQueueRecordsVisibilityChanges(t *testing.T) {
	t.Parallel()
	var q inmem.Queue
	_ = q.ChangeVisibility(t.Context(), jobs.LaneInteractive, "handle-1", 30*time.Second)
	_ = q.ChangeVisibility(t.Context(), jobs.LaneBulk, "handle-2", 0)
	want := []inmem.VisibilityChange{{Lane: jobs.LaneInteractive, ReceiptHandle: "handle-1", Timeout: 30 * time.Second}, {Lane: jobs.LaneBulk, ReceiptHandle: "handle-2"}}
	if got := q.VisibilityChanges(); !slices.Equal(got, want) {
		t.Errorf("VisibilityChanges() = %v, want %v", got, want)
	}
}
