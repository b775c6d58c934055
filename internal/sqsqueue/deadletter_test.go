package sqsqueue_test

import (
	"errors"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/sqsqueue"
)

func TestDeadLetterQueuePeekReleaseAndDelete(t *testing.T) {
	t.Parallel()
	client, _, dlqURL := setup(t, sqsqueue.QueueOptions{})
	before := time.Now().Add(-time.Second)
	sent := messages(3)
	for _, err := range sqsqueue.New(client, dlqURL).SendBatch(t.Context(), sent) {
		if err != nil {
			t.Fatal(err)
		}
	}
	d := sqsqueue.NewDeadLetterQueue(client, dlqURL)
	if got, err := d.Depth(t.Context()); err != nil || got != (sqsqueue.Depth{Visible: 3}) {
		t.Fatalf("Depth = %+v, %v; want 3 visible", got, err)
	}

	var letters []sqsqueue.DeadLetter
	for len(letters) < 3 {
		got, err := d.Receive(t.Context(), 10, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			t.Fatalf("received %d of 3 messages, then none", len(letters))
		}
		letters = append(letters, got...)
	}
	for _, l := range letters {
		if _, err := sqsqueue.ParseMessage(l.Body); err != nil || l.MessageID == "" || l.ReceiptHandle == "" {
			t.Errorf("letter %+v: %v", l, err)
		}
		if l.ReceiveCount != 1 || l.SentAt.Before(before) || l.SentAt.After(time.Now()) {
			t.Errorf("letter received %d times, sent %v; want 1 and a sent time of this test", l.ReceiveCount, l.SentAt)
		}
	}
	if got, err := d.Receive(t.Context(), 10, time.Hour); err != nil || len(got) != 0 {
		t.Fatalf("a receive while all are hidden returned %d messages (%v), want none", len(got), err)
	}

	if err := d.Delete(t.Context(), letters[0].ReceiptHandle); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := d.Release(t.Context(), []string{letters[1].ReceiptHandle, letters[2].ReceiptHandle}); err != nil {
		t.Fatalf("Release: %v", err)
	}
	again, err := d.Receive(t.Context(), 10, time.Hour)
	if err != nil || len(again) != 2 {
		t.Fatalf("after releasing 2 and deleting 1, a receive returned %d messages (%v), want 2", len(again), err)
	}
	for _, l := range again {
		if l.MessageID == letters[0].MessageID {
			t.Error("the deleted message came back")
		}
		if l.ReceiveCount != 2 {
			t.Errorf("a released message's receive count is %d, want 2", l.ReceiveCount)
		}
	}
	if err := d.Release(t.Context(), []string{"no-such-handle"}); err == nil {
		t.Error("releasing an unknown handle reported no error")
	}
}

// kumo has no message move tasks; the tool falls back on this error.
func TestDeadLetterQueueRedriveOnAnEndpointWithoutMoveTasks(t *testing.T) {
	t.Parallel()
	client, _, dlqURL := setup(t, sqsqueue.QueueOptions{})
	d := sqsqueue.NewDeadLetterQueue(client, dlqURL)
	if _, err := d.RedriveTasks(t.Context()); !errors.Is(err, sqsqueue.ErrRedriveUnsupported) {
		t.Errorf("RedriveTasks: %v, want ErrRedriveUnsupported", err)
	}
	if _, err := d.StartRedrive(t.Context()); !errors.Is(err, sqsqueue.ErrRedriveUnsupported) {
		t.Errorf("StartRedrive: %v, want ErrRedriveUnsupported", err)
	}
}
