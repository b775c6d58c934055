package dlq

import (
	"slices"
	"strings"
	"time"
)

// Filter selects the messages replay and purge act on. The zero Filter
// selects every message. Conditions combine with AND; several JobIDs
// select any of them.
type Filter struct {
	// JobIDs, when set, selects only messages of these jobs.
	JobIDs []string
	// OlderThan, when positive, selects messages sent more than this long
	// ago (SentTimestamp: when the job's message was first queued).
	OlderThan time.Duration
	// Reason, when set, selects messages whose job's failure ("code:
	// message", or what is wrong with the message, e.g. job_not_found or
	// invalid_message) contains it, ignoring case.
	Reason string
	// Max, when positive, caps how many messages are acted on.
	Max int
}

// Empty reports whether f selects every message (Max aside).
func (f Filter) Empty() bool {
	return len(f.JobIDs) == 0 && f.OlderThan <= 0 && f.Reason == ""
}

// Match reports whether f selects e at now. A message whose job could not
// be read has no reason, so a Reason filter never selects it.
func (f Filter) Match(e Entry, now time.Time) bool {
	if len(f.JobIDs) > 0 && !slices.Contains(f.JobIDs, e.JobID) {
		return false
	}
	if f.OlderThan > 0 && (e.SentAt.IsZero() || now.Sub(e.SentAt) <= f.OlderThan) {
		return false
	}
	if f.Reason != "" && !strings.Contains(strings.ToLower(e.Reason), strings.ToLower(f.Reason)) {
		return false
	}
	return true
}
