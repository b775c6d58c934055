package bedrockbatch

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// Limits are Bedrock's per-job limits for one model (its Service Quotas:
// "Minimum number of records per batch inference job", "Records per batch
// inference job", "Batch inference input file size", "Batch inference job
// size"). A run is one input file, so a run's bytes are bounded by the
// smaller of the file and the job size.
type Limits struct {
	MinRecords   int
	MaxRecords   int
	MaxFileBytes int64
	MaxJobBytes  int64
}

// Validate checks that l can form a run.
func (l Limits) Validate() error {
	switch {
	case l.MinRecords < 1:
		return fmt.Errorf("minimum records per run %d: want at least 1", l.MinRecords)
	case l.MaxRecords < l.MinRecords:
		return fmt.Errorf("maximum records per run %d: want at least the minimum, %d", l.MaxRecords, l.MinRecords)
	case l.MaxFileBytes < 1 || l.MaxJobBytes < 1:
		return fmt.Errorf("file size %d and job size %d: want both positive", l.MaxFileBytes, l.MaxJobBytes)
	}
	return nil
}

func (l Limits) maxBytes() int64 { return min(l.MaxFileBytes, l.MaxJobBytes) }

// Plan is what to do with the pending jobs now.
type Plan struct {
	// Runs are the runs to start, each of one model, within the limits.
	Runs []Run
	// OnDemand are jobs to run on demand instead: their model's pending
	// jobs stayed below the minimum for a run longer than the wait, or
	// their input lines are so large that the minimum records of a run would
	// not fit in its bytes.
	OnDemand []jobs.Waiting
	// Waiting are jobs left for a later plan, to gather more.
	Waiting []jobs.Waiting
}

// Run is the jobs of one run, oldest first.
type Run struct {
	Model string
	Jobs  []jobs.Waiting
	Bytes int64
}

// MakePlan groups pending by model and forms, for each, runs within its
// model's limits (limits(model)), oldest jobs first. A model's jobs that
// do not fill a run of the minimum size wait, unless the oldest of them
// has waited maxWait since it was submitted: then they go on demand. A run
// that reached the maximum records or bytes is started at once; one that
// has at least the minimum records is started too, so nothing waits for a
// fuller run once it could run.
func MakePlan(pending []jobs.Waiting, limits func(model string) Limits, now time.Time, maxWait time.Duration) Plan {
	byModel := map[string][]jobs.Waiting{}
	for _, p := range pending {
		byModel[p.Model] = append(byModel[p.Model], p)
	}
	models := make([]string, 0, len(byModel))
	for m := range byModel {
		models = append(models, m)
	}
	slices.Sort(models)

	var plan Plan
	for _, model := range models {
		waiting := byModel[model]
		slices.SortStableFunc(waiting, func(a, b jobs.Waiting) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		l := limits(model)
		cur := Run{Model: model}
		// flush ends the run being formed. One that filled its bytes
		// before its minimum records can never run as a batch: its jobs
		// go on demand.
		flush := func() {
			if len(cur.Jobs) >= l.MinRecords {
				plan.Runs = append(plan.Runs, cur)
			} else {
				plan.OnDemand = append(plan.OnDemand, cur.Jobs...)
			}
			cur = Run{Model: model}
		}
		for _, p := range waiting {
			if p.Bytes > l.maxBytes() {
				plan.OnDemand = append(plan.OnDemand, p)
				continue
			}
			if len(cur.Jobs) > 0 && (len(cur.Jobs) == l.MaxRecords || cur.Bytes+p.Bytes > l.maxBytes()) {
				flush()
			}
			cur.Jobs = append(cur.Jobs, p)
			cur.Bytes += p.Bytes
		}
		// The last run, if short, is not a run yet.
		if len(cur.Jobs) >= l.MinRecords {
			flush()
			continue
		}
		if len(cur.Jobs) > 0 && now.Sub(cur.Jobs[0].CreatedAt) >= maxWait {
			plan.OnDemand = append(plan.OnDemand, cur.Jobs...)
		} else {
			plan.Waiting = append(plan.Waiting, cur.Jobs...)
		}
	}
	return plan
}
