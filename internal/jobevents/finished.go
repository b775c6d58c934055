package jobevents

import (
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// Source and DetailType name the events this package puts.
const (
	Source     = "promptq"
	DetailType = "Job finished"
)

// Finished is the detail of a "Job finished" event: what an operator
// routes and counts by, and nothing a user wrote or the model generated.
// Fields with omitempty are absent when they do not apply (a job cancelled
// while queued never started).
type Finished struct {
	JobID  string      `json:"job_id"` // the dedupe key: events are delivered at least once
	Owner  string      `json:"owner"`  // the owner's Cognito sub
	Lane   jobs.Lane   `json:"lane"`
	Model  string      `json:"model"`
	Status jobs.Status `json:"status"`
	// ErrorCode is a failed job's failure code (jobs.Failure*).
	ErrorCode  string      `json:"error_code,omitempty"`
	StopReason string      `json:"stop_reason,omitempty"`
	Tokens     jobs.Tokens `json:"tokens"`
	Attempts   int         `json:"attempts"`
	CreatedAt  time.Time   `json:"created_at"`
	StartedAt  *time.Time  `json:"started_at,omitempty"`
	FinishedAt time.Time   `json:"finished_at"`
	// QueueWaitMs is started_at - created_at; DurationMs is finished_at -
	// started_at (the last attempt's run); TotalMs is finished_at -
	// created_at.
	QueueWaitMs *int64 `json:"queue_wait_ms,omitempty"`
	DurationMs  *int64 `json:"duration_ms,omitempty"`
	TotalMs     int64  `json:"total_ms"`
}

// FinishedFrom is the event detail for j, which has ended. A job without a
// finished time (written before jobs had one) counts as finished at
// updated_at.
func FinishedFrom(j jobs.Job) Finished {
	end := j.FinishedAt
	if end.IsZero() {
		end = j.UpdatedAt
	}
	f := Finished{
		JobID: j.ID, Owner: j.Owner, Lane: j.Lane.OrDefault(), Model: j.Model, Status: j.Status,
		StopReason: j.StopReason, Tokens: j.Tokens, Attempts: j.Attempts,
		CreatedAt: j.CreatedAt.UTC(), FinishedAt: end.UTC(),
		TotalMs: millis(end.Sub(j.CreatedAt)),
	}
	if j.Failure != nil {
		f.ErrorCode = j.Failure.Code
	}
	if !j.StartedAt.IsZero() {
		started := j.StartedAt.UTC()
		wait, run := millis(started.Sub(j.CreatedAt)), millis(end.Sub(started))
		f.StartedAt, f.QueueWaitMs, f.DurationMs = &started, &wait, &run
	}
	return f
}

// millis is d in whole milliseconds, never negative (clocks of different
// writers can disagree by a little).
func millis(d time.Duration) int64 { return max(d.Milliseconds(), 0) }
