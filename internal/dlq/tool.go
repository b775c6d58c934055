package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// store is what the tool needs from the job store (internal/dynamo).
type store interface {
	Get(ctx context.Context, owner, id string) (jobs.Job, error)
	Requeue(ctx context.Context, owner, id string) (jobs.Job, error)
	MarkFailed(ctx context.Context, owner, id string, f jobs.Failure) error
}

// queue is the lanes' queues replayed messages go back to, each to its
// job's lane (*sqsqueue.Lanes).
type queue interface {
	Send(ctx context.Context, m jobs.Message) error
}

// deadLetters is the dead-letter queue (*sqsqueue.DeadLetterQueue).
type deadLetters interface {
	Depth(ctx context.Context) (sqsqueue.Depth, error)
	Receive(ctx context.Context, n int, visibility time.Duration) ([]sqsqueue.DeadLetter, error)
	Release(ctx context.Context, receiptHandles []string) error
	Delete(ctx context.Context, receiptHandle string) error
}

// redriver is SQS's own bulk move out of the dead-letter queue, each
// message back to the queue it came from (*sqsqueue.DeadLetterQueue).
type redriver interface {
	StartRedrive(ctx context.Context) (string, error)
	RedriveTasks(ctx context.Context) ([]sqsqueue.RedriveTask, error)
}

var (
	_ store       = (*dynamo.Store)(nil)
	_ deadLetters = (*sqsqueue.DeadLetterQueue)(nil)
	_ redriver    = (*sqsqueue.DeadLetterQueue)(nil)
	_ queue       = (*sqsqueue.Lanes)(nil)
)

// Config is what a Tool works on. Zero durations and a nil Logger, Out or
// Now take the defaults named on each.
type Config struct {
	Store       store
	Queue       queue // the lanes' queues
	DeadLetters deadLetters
	// Redriver, when set, allows the bulk move (replay --bulk); without it
	// a bulk replay goes message by message.
	Redriver redriver
	// DLQURL names the dead-letter queue in output.
	DLQURL string

	// Logger receives one line per action. Default: discard.
	Logger *slog.Logger
	// Out receives the listings and summaries. Default: io.Discard.
	Out io.Writer
	// Now is the clock for ages. Default time.Now.
	Now func() time.Time

	// PeekVisibility hides messages while list and show look at them.
	// Default 5 s: short, so a listing hides nothing for long.
	PeekVisibility time.Duration
	// HoldVisibility hides messages while replay and purge act on them.
	// Default 60 s: long enough to act on a batch of ten (a read and up
	// to three writes each), so no other operator takes one mid-way.
	HoldVisibility time.Duration
	// PollInterval is how often a bulk move's progress is read.
	// Default 2 s.
	PollInterval time.Duration
}

// Tool lists, shows, replays and purges a dead-letter queue's messages.
type Tool struct {
	cfg Config
	log *slog.Logger
}

// New returns a tool on cfg's store and queues.
func New(cfg Config) (*Tool, error) {
	if cfg.Store == nil || cfg.Queue == nil || cfg.DeadLetters == nil {
		return nil, errors.New("dlq: a store, the jobs queue and the dead-letter queue are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PeekVisibility <= 0 {
		cfg.PeekVisibility = 5 * time.Second
	}
	if cfg.HoldVisibility <= 0 {
		cfg.HoldVisibility = 60 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	return &Tool{cfg: cfg, log: cfg.Logger}, nil
}

// Statuses an Entry has besides the job statuses.
const (
	// StatusMissing: the message names a job the table does not hold
	// (deleted by TTL, or never stored).
	StatusMissing = "missing"
	// StatusInvalidMessage: the body is not a job message.
	StatusInvalidMessage = "invalid_message"
	// StatusUnknown: the job could not be read.
	StatusUnknown = "unknown"
)

// Entry is one dead-letter message and what the table says of its job.
type Entry struct {
	MessageID  string    `json:"message_id"`
	JobID      string    `json:"job_id,omitempty"`
	Owner      string    `json:"owner,omitempty"`
	SentAt     time.Time `json:"sent_at"`
	AgeSeconds int64     `json:"age_seconds"`
	// ReceiveCount is SQS's ApproximateReceiveCount of the message. It
	// counts every receive: this tool's own looks (list, show, dry runs)
	// as well as the workers', so it grows each time someone looks.
	ReceiveCount int `json:"receive_count"`
	// Attempts is how many times a worker started the job (the job's
	// attempts, from the table; 0 when there is no job). Looking does
	// not change it.
	Attempts int `json:"attempts"`
	// LeaseUntil is when a running job's lease ends: until then a worker
	// is generating it, and purge leaves it alone.
	LeaseUntil *time.Time `json:"lease_until,omitempty"`
	// Status is the job's status, or StatusMissing, StatusInvalidMessage or
	// StatusUnknown.
	Status string `json:"status"`
	// FailureCode and Reason are the job's recorded failure (code, and
	// "code: message"), or what is wrong with the message.
	FailureCode string `json:"failure_code,omitempty"`
	Reason      string `json:"reason,omitempty"`

	letter sqsqueue.DeadLetter
	job    *jobs.Job // nil unless read
}

func (t *Tool) entry(l sqsqueue.DeadLetter) Entry {
	e := Entry{
		MessageID:    l.MessageID,
		SentAt:       l.SentAt,
		ReceiveCount: l.ReceiveCount,
		letter:       l,
	}
	if !l.SentAt.IsZero() {
		e.AgeSeconds = int64(t.cfg.Now().Sub(l.SentAt) / time.Second)
	}
	m, err := sqsqueue.ParseMessage(l.Body)
	if err == nil && !jobs.ValidID(m.JobID) {
		err = fmt.Errorf("job_id %q is not a job id", m.JobID)
	}
	if err != nil {
		e.Status, e.FailureCode = StatusInvalidMessage, StatusInvalidMessage
		e.Reason = StatusInvalidMessage + ": " + err.Error()
		return e
	}
	e.JobID, e.Owner = m.JobID, m.Owner
	return e
}

// describe reads the entry's job. A store error other than a missing job
// is returned, with the entry's status StatusUnknown.
func (t *Tool) describe(ctx context.Context, e *Entry) error {
	if e.Status == StatusInvalidMessage {
		return nil
	}
	j, err := t.cfg.Store.Get(ctx, e.Owner, e.JobID)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		e.Status, e.FailureCode = StatusMissing, "job_not_found"
		e.Reason = "job_not_found: the table has no such job (expired, or never stored)"
		return nil
	case err != nil:
		e.Status = StatusUnknown
		return err
	}
	e.job = &j
	e.Status = string(j.Status)
	e.Attempts = j.Attempts
	if j.Status == jobs.StatusRunning && !j.LeaseUntil.IsZero() {
		lease := j.LeaseUntil
		e.LeaseUntil = &lease
	}
	e.FailureCode, e.Reason = "", ""
	if j.Failure != nil {
		e.FailureCode = j.Failure.Code
		e.Reason = j.Failure.Code + ": " + j.Failure.Message
	}
	return nil
}

// errStop ends a walk early without error.
var errStop = errors.New("stop")

// walk receives the dead-letter queue's messages, each once, hiding them
// for visibility, and hands each new one to visit. visit reports whether
// it deleted the message; every other message received is released
// (shown again) when walk returns, whether it ends normally, on an error
// or because ctx ended. walk ends when a receive brings nothing, when two
// receives in a row bring only messages already seen (their visibility
// ran out), or when visit returns errStop.
func (t *Tool) walk(ctx context.Context, visibility time.Duration, visit func(ctx context.Context, l sqsqueue.DeadLetter) (deleted bool, err error)) (err error) {
	seen := map[string]bool{}
	held := map[string]string{} // message id → its latest receipt handle
	defer func() {
		if len(held) == 0 {
			return
		}
		handles := make([]string, 0, len(held))
		for _, h := range held {
			handles = append(handles, h)
		}
		// Release even when ctx has ended (Ctrl-C), so nothing stays
		// hidden for the rest of its visibility timeout.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if rerr := t.cfg.DeadLetters.Release(rctx, handles); rerr != nil {
			t.log.Warn("could not show some messages again at once; they reappear when their visibility timeout ends",
				"messages", len(handles), "visibility", visibility.String(), "error", rerr)
		}
	}()
	idle := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		letters, err := t.cfg.DeadLetters.Receive(ctx, 10, visibility)
		if err != nil {
			return err
		}
		if len(letters) == 0 {
			return nil
		}
		for _, l := range letters {
			held[l.MessageID] = l.ReceiptHandle
		}
		fresh := 0
		for _, l := range letters {
			if seen[l.MessageID] {
				continue
			}
			seen[l.MessageID] = true
			fresh++
			deleted, err := visit(ctx, l)
			if deleted {
				delete(held, l.MessageID)
			}
			if errors.Is(err, errStop) {
				return nil
			}
			if err != nil {
				return err
			}
		}
		if fresh > 0 {
			idle = 0
		} else if idle++; idle >= 2 {
			return nil
		}
	}
}

// short returns s cut to n runes, with an ellipsis when cut.
func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// oneLine replaces line breaks so a value stays on its table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// age formats d compactly: 45s, 12m, 3h05m, 2d04h.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}
