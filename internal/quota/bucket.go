package quota

import (
	"math"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// Bucket is a token bucket sized from a tokens-per-minute quota. The state
// ([Level]) lives wherever the workers share it; Bucket only computes.
//
// It refills at 90% of the quota and holds at most 10% of it, so no 60
// seconds ever see more than the quota, whether the model counts in a
// sliding minute or a bucket of its own, and a backlog runs at 90% of the
// quota. What a job did not use is given back when its call ends, so the
// 90% is of tokens really used, not of reservations.
//
// Each lane must leave some tokens in the bucket: the bulk lane stops at
// half the bucket, so an interactive job usually finds its tokens at once
// and otherwise waits a fraction of a second, since it needs fewer
// tokens in the bucket than any bulk job does and so is first as the
// bucket refills. A job that needs more than the bucket can hold (a large
// max_tokens under a small quota) starts when the bucket is full and
// overdraws it; the jobs after it wait until it is paid back.
type Bucket struct {
	// Rate is the refill in tokens per second.
	Rate float64
	// Size is the most the bucket holds.
	Size float64
	// Reserve is what the bulk lane must leave in the bucket.
	Reserve float64
}

// NewBucket sizes a bucket for tokensPerMinute (> 0).
func NewBucket(tokensPerMinute int) Bucket {
	tpm := float64(tokensPerMinute)
	size := tpm / 10
	return Bucket{Rate: 0.9 * tpm / 60, Size: size, Reserve: size / 2}
}

// Level is a bucket's state: Tokens at time At. A bucket never written is
// full.
type Level struct {
	Tokens float64
	At     time.Time
}

// Available is the tokens in the bucket at now: what was there at l.At plus
// the refill since, at most Size.
func (b Bucket) Available(l Level, now time.Time) float64 {
	if l.At.IsZero() {
		return b.Size
	}
	elapsed := max(now.Sub(l.At).Seconds(), 0)
	return min(b.Size, l.Tokens+b.Rate*elapsed)
}

// Take decides whether a job of lane may take tokens at now. If it may, it
// returns the level after taking them and a zero wait; if not, how long
// until it may, assuming nobody else takes any.
func (b Bucket) Take(l Level, lane jobs.Lane, tokens int, now time.Time) (Level, time.Duration) {
	avail := b.Available(l, now)
	need := float64(tokens)
	if lane.OrDefault() == jobs.LaneBulk {
		need += b.Reserve
	}
	need = min(need, b.Size)
	if avail >= need {
		return Level{Tokens: avail - float64(tokens), At: now}, 0
	}
	wait := time.Duration(math.Ceil((need - avail) / b.Rate * float64(time.Second)))
	return l, max(wait, time.Millisecond)
}

// ThrottlePenalty is what a throttle from the model takes out of the
// bucket: ten seconds of refill. The model refused because the account
// has less room than the quota says (or other callers share it), so every
// worker pauses for a while instead of each finding out by itself.
func (b Bucket) ThrottlePenalty() float64 { return 10 * b.Rate }
