package quota

import (
	"errors"
	"fmt"
	"math"

	"github.com/promptq/promptq/internal/jobs"
)

// MinLaneConcurrency is the least concurrency a lane can have: an SQS event
// source mapping's smallest MaximumConcurrency.
const MinLaneConcurrency = 2

// Quota is what the account may ask of the model.
type Quota struct {
	// Concurrency is how many generations may run at once, all lanes
	// together. At least 2×MinLaneConcurrency.
	Concurrency int
	// TokensPerMinute is the model's tokens-per-minute quota (input plus
	// output, as Bedrock counts them). 0: unknown, and tokens are not paced.
	TokensPerMinute int
	// InteractiveShare is the share of Concurrency reserved for the
	// interactive lane, 0 < share < 1.
	InteractiveShare float64
}

// Default is the quota a stack or dev stack assumes unless told otherwise:
// 10 generations at once (what a new account's Bedrock quota allows for
// small models), a quarter of them interactive, tokens not paced.
func Default() Quota {
	return Quota{Concurrency: 10, InteractiveShare: 0.25}
}

// Validate reports every problem with q.
func (q Quota) Validate() error {
	var errs []error
	if q.Concurrency < 2*MinLaneConcurrency {
		errs = append(errs, fmt.Errorf("model concurrency %d: want at least %d (each lane needs %d)",
			q.Concurrency, 2*MinLaneConcurrency, MinLaneConcurrency))
	}
	if q.Concurrency > 2000 {
		errs = append(errs, fmt.Errorf("model concurrency %d: want at most 2000 (two event source mappings of 1000)", q.Concurrency))
	}
	if q.TokensPerMinute < 0 {
		errs = append(errs, fmt.Errorf("tokens per minute %d: want 0 (unknown) or more", q.TokensPerMinute))
	}
	if !(q.InteractiveShare > 0 && q.InteractiveShare < 1) {
		errs = append(errs, fmt.Errorf("interactive share %v: want a number between 0 and 1", q.InteractiveShare))
	}
	return errors.Join(errs...)
}

// Lanes is how many generations each lane may run at once.
type Lanes struct {
	Interactive int
	Bulk        int
}

// Of is lane's concurrency (the interactive lane's for an unknown lane).
func (l Lanes) Of(lane jobs.Lane) int {
	if lane == jobs.LaneBulk {
		return l.Bulk
	}
	return l.Interactive
}

// Split divides q's concurrency between the lanes: the interactive lane
// gets InteractiveShare of it rounded up, at least MinLaneConcurrency; the
// bulk lane the rest, at least MinLaneConcurrency. q must be valid.
func (q Quota) Split() Lanes {
	interactive := max(MinLaneConcurrency, int(math.Ceil(float64(q.Concurrency)*q.InteractiveShare)))
	interactive = min(interactive, q.Concurrency-MinLaneConcurrency)
	return Lanes{Interactive: interactive, Bulk: q.Concurrency - interactive}
}
