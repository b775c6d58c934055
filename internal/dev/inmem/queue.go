package inmem

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// Queue records the messages sent to it instead of delivering them. The
// zero value is ready to use and safe for concurrent use.
type Queue struct {
	mu         sync.Mutex
	errFunc    func(jobs.Message) error
	sent       []jobs.Message
	visibility []VisibilityChange
}

// VisibilityChange is one recorded ChangeVisibility call.
type VisibilityChange struct {
	Lane          jobs.Lane
	ReceiptHandle string
	Timeout       time.Duration
}

// SetErrFunc makes every later send ask f first: a non-nil error fails that
// message's send, and the message is not recorded. nil restores success.
// f may keep state (fail the first call only, fail one job id) and is
// called with the queue's lock held, so it needs no locking of its own.
func (q *Queue) SetErrFunc(f func(jobs.Message) error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.errFunc = f
}

// Send records m, or returns the error the ErrFunc gives it.
func (q *Queue) Send(_ context.Context, m jobs.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.send(m); err != nil {
		return fmt.Errorf("send job %s: %w", m.JobID, err)
	}
	return nil
}

func (q *Queue) send(m jobs.Message) error {
	if q.errFunc != nil {
		if err := q.errFunc(m); err != nil {
			return err
		}
	}
	q.sent = append(q.sent, m)
	return nil
}

// SendBatch sends each message and returns one error per message, nil for
// the ones that were sent, like sqsqueue.Queue.SendBatch.
func (q *Queue) SendBatch(_ context.Context, ms []jobs.Message) []error {
	q.mu.Lock()
	defer q.mu.Unlock()
	errs := make([]error, len(ms))
	for i, m := range ms {
		if err := q.send(m); err != nil {
			errs[i] = fmt.Errorf("send job %s: %w", m.JobID, err)
		}
	}
	return errs
}

// SendAfter records m as Send does; the delay is not kept.
func (q *Queue) SendAfter(ctx context.Context, m jobs.Message, _ time.Duration) error {
	return q.Send(ctx, m)
}

// ChangeVisibility records the call.
func (q *Queue) ChangeVisibility(_ context.Context, lane jobs.Lane, receiptHandle string, d time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.visibility = append(q.visibility, VisibilityChange{Lane: lane, ReceiptHandle: receiptHandle, Timeout: d})
	return nil
}

// Sent returns the messages sent so far, in order.
func (q *Queue) Sent() []jobs.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.sent)
}

// VisibilityChanges returns the ChangeVisibility calls so far, in order.
func (q *Queue) VisibilityChanges() []VisibilityChange {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.visibility)
}
