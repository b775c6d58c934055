package dlq

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// Listing is what List found: the queue's counts and the messages looked
// at, oldest first.
type Listing struct {
	Queue    string  `json:"queue"`
	Visible  int     `json:"visible"`   // ApproximateNumberOfMessages
	InFlight int     `json:"in_flight"` // ApproximateNumberOfMessagesNotVisible
	Listed   int     `json:"listed"`
	More     bool    `json:"more"` // the listing stopped at its maximum
	Messages []Entry `json:"messages"`
}

// List counts the dead-letter queue's messages and looks at up to limit of
// them (0: no limit) with their jobs.
//
// Looking means receiving: each message is hidden for PeekVisibility
// while the queue is read, and all are shown again as soon as the read
// ends, before the jobs are looked up. Meanwhile another operator's list
// or replay does not see them.
func (t *Tool) List(ctx context.Context, limit int) (Listing, error) {
	depth, err := t.cfg.DeadLetters.Depth(ctx)
	if err != nil {
		return Listing{}, err
	}
	l := Listing{Queue: t.cfg.DLQURL, Visible: depth.Visible, InFlight: depth.InFlight, Messages: []Entry{}}
	err = t.walk(ctx, t.cfg.PeekVisibility, func(ctx context.Context, d sqsqueue.DeadLetter) (bool, error) {
		if limit > 0 && len(l.Messages) == limit {
			l.More = true
			return false, errStop
		}
		l.Messages = append(l.Messages, t.entry(d))
		return false, nil
	})
	if err != nil {
		return l, err
	}
	var errs []error
	for i := range l.Messages {
		if err := t.describe(ctx, &l.Messages[i]); err != nil {
			l.Messages[i].Reason = "could not read the job"
			errs = append(errs, err)
		}
	}
	slices.SortStableFunc(l.Messages, func(a, b Entry) int { return a.SentAt.Compare(b.SentAt) })
	l.Listed = len(l.Messages)
	t.log.Info("listed the dead-letter queue", "queue", t.cfg.DLQURL, "visible", l.Visible,
		"in_flight", l.InFlight, "listed", l.Listed, "more", l.More)
	return l, errors.Join(errs...)
}

// WriteText writes the listing as a table.
func (l Listing) WriteText(w io.Writer, now time.Time) error {
	fmt.Fprintf(w, "dead-letter queue %s: %d waiting, %d in flight\n", l.Queue, l.Visible, l.InFlight)
	if len(l.Messages) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	// ATTEMPTS is the job's, from the table: how many times a worker
	// started it. SQS's receive count is not shown here because every
	// look (this listing included) adds one to it; --json has both.
	fmt.Fprintln(tw, "JOB ID\tOWNER\tAGE\tATTEMPTS\tSTATUS\tREASON")
	for _, e := range l.Messages {
		id := cmp.Or(e.JobID, "message "+e.MessageID)
		attempts := "-"
		if e.job != nil {
			attempts = strconv.Itoa(e.Attempts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", id, cmp.Or(e.Owner, "-"), age(now.Sub(e.SentAt)),
			attempts, e.Status, short(oneLine(e.Reason), 90))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.More {
		fmt.Fprintf(w, "(listed the first %d; --max shows more)\n", l.Listed)
	}
	return nil
}

// WriteJSON writes the listing as one JSON document.
func (l Listing) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(l)
}

// Shown is a dead-letter message and its job, side by side. Either may be
// missing.
type Shown struct {
	Message *MessageView `json:"message"` // nil: no message of the job in the dead-letter queue
	Job     *JobView     `json:"job"`     // nil: no such job (or its owner is unknown)
}

// MessageView is a dead-letter message.
type MessageView struct {
	MessageID    string    `json:"message_id"`
	SentAt       time.Time `json:"sent_at"`
	AgeSeconds   int64     `json:"age_seconds"`
	ReceiveCount int       `json:"receive_count"` // SQS's ApproximateReceiveCount: looks by this tool included
	Body         string    `json:"body"`
}

// JobView is a job as show prints it: its prompt and system prompt cut to
// promptChars characters, the generated text only counted.
type JobView struct {
	ID             string        `json:"id"`
	Owner          string        `json:"owner"`
	Status         jobs.Status   `json:"status"`
	Failure        *jobs.Failure `json:"failure,omitempty"`
	Model          string        `json:"model"`
	MaxTokens      int           `json:"max_tokens"`
	Temperature    *float64      `json:"temperature,omitempty"`
	Attempts       int           `json:"attempts"`
	Prompt         string        `json:"prompt"`
	PromptChars    int           `json:"prompt_chars"`
	System         string        `json:"system,omitempty"`
	SystemChars    int           `json:"system_chars,omitempty"`
	GeneratedChars int           `json:"generated_chars"`
	StopReason     string        `json:"stop_reason,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
	StartedAt      *time.Time    `json:"started_at,omitempty"`
	FinishedAt     *time.Time    `json:"finished_at,omitempty"`
	LeaseUntil     *time.Time    `json:"lease_until,omitempty"`
	ExpiresAt      time.Time     `json:"expires_at"`
}

// promptChars is how much of a prompt show prints: enough to recognise
// it, not to copy it around.
const promptChars = 120

func jobView(j jobs.Job) *JobView {
	ts := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return &JobView{
		ID: j.ID, Owner: j.Owner, Status: j.Status, Failure: j.Failure,
		Model: j.Model, MaxTokens: j.MaxTokens, Temperature: j.Temperature, Attempts: j.Attempts,
		Prompt: short(j.Prompt, promptChars), PromptChars: len([]rune(j.Prompt)),
		System: short(j.System, promptChars), SystemChars: len([]rune(j.System)),
		GeneratedChars: len([]rune(j.GeneratedText)), StopReason: j.StopReason,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt,
		StartedAt: ts(j.StartedAt), FinishedAt: ts(j.FinishedAt), LeaseUntil: ts(j.LeaseUntil),
		ExpiresAt: j.ExpiresAt,
	}
}

// Show finds the dead-letter message of job id and reads the job. owner,
// if set, reads the job even when the queue holds no message for it (the
// owner is part of the job's key, and otherwise comes from the message).
func (t *Tool) Show(ctx context.Context, id, owner string) (Shown, error) {
	var s Shown
	err := t.walk(ctx, t.cfg.PeekVisibility, func(ctx context.Context, d sqsqueue.DeadLetter) (bool, error) {
		e := t.entry(d)
		if e.JobID != id || (owner != "" && e.Owner != owner) {
			return false, nil
		}
		s.Message = &MessageView{MessageID: d.MessageID, SentAt: d.SentAt, AgeSeconds: e.AgeSeconds,
			ReceiveCount: d.ReceiveCount, Body: d.Body}
		owner = e.Owner
		return false, errStop
	})
	if err != nil {
		return s, err
	}
	if owner == "" {
		t.log.Info("no message of the job in the dead-letter queue", "job_id", id)
		return s, nil
	}
	j, err := t.cfg.Store.Get(ctx, owner, id)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
	case err != nil:
		return s, err
	default:
		s.Job = jobView(j)
	}
	t.log.Info("showed a job", "job_id", id, "user", owner, "in_dlq", s.Message != nil, "job_found", s.Job != nil)
	return s, nil
}

// WriteText writes the message and the job one after the other.
func (s Shown) WriteText(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	row := func(k, format string, args ...any) {
		fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{k}, args...)...)
	}
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return fmt.Sprintf("%s (%s ago)", t.Format(time.RFC3339), age(now.Sub(*t)))
	}
	if m := s.Message; m != nil {
		fmt.Fprintln(tw, "message (dead-letter queue)")
		row("message id", "%s", m.MessageID)
		row("sent", "%s", when(&m.SentAt))
		// Every receive counts, this tool's looks included; the job's
		// attempts (below) say how often a worker started it.
		row("SQS receives", "%d (every look by this tool adds one; the job's attempts are below)", m.ReceiveCount)
		row("body", "%s", short(oneLine(m.Body), 300))
	} else {
		fmt.Fprintln(tw, "message: none in the dead-letter queue")
	}
	if j := s.Job; j != nil {
		fmt.Fprintln(tw, "job (table)")
		row("id", "%s", j.ID)
		row("owner", "%s", j.Owner)
		row("status", "%s", j.Status)
		if j.Failure != nil {
			row("failure", "%s: %s", j.Failure.Code, oneLine(j.Failure.Message))
		}
		row("model", "%s", j.Model)
		row("max tokens", "%d", j.MaxTokens)
		if j.Temperature != nil {
			row("temperature", "%g", *j.Temperature)
		}
		row("attempts", "%d", j.Attempts)
		row("prompt", "%q (%d characters)", oneLine(j.Prompt), j.PromptChars)
		if j.SystemChars > 0 {
			row("system", "%q (%d characters)", oneLine(j.System), j.SystemChars)
		}
		row("generated", "%d characters", j.GeneratedChars)
		if j.StopReason != "" {
			row("stop reason", "%s", j.StopReason)
		}
		row("created", "%s", when(&j.CreatedAt))
		row("updated", "%s", when(&j.UpdatedAt))
		row("started", "%s", when(j.StartedAt))
		row("finished", "%s", when(j.FinishedAt))
		if j.LeaseUntil != nil {
			row("lease until", "%s", when(j.LeaseUntil))
		}
		row("expires", "%s", j.ExpiresAt.Format(time.RFC3339))
	} else {
		fmt.Fprintln(tw, "job: not found")
	}
	return tw.Flush()
}

// WriteJSON writes s as one JSON document.
func (s Shown) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
