package bedrockbatch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/bedrockbatch"
	"github.com/promptq/promptq/internal/jobs"
)

func TestMakePlan(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	limits := bedrockbatch.Limits{MinRecords: 3, MaxRecords: 5, MaxFileBytes: 1000, MaxJobBytes: 5000}
	jobsOf := func(model string, n int, size int64, age time.Duration) []jobs.Waiting {
		out := make([]jobs.Waiting, n)
		for i := range out {
			out[i] = jobs.Waiting{ID: fmt.Sprintf("%s-%02d", model, i), Model: model,
				CreatedAt: t0.Add(-age).Add(time.Duration(i) * time.Second), Bytes: size}
		}
		return out
	}
	concat := func(ps ...[]jobs.Waiting) []jobs.Waiting {
		var out []jobs.Waiting
		for _, p := range ps {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name                      string
		pending                   []jobs.Waiting
		wantRuns                  []int // records in each run
		wantOnDemand, wantWaiting int
	}{
		{"nothing", nil, nil, 0, 0},
		{"below the minimum waits", jobsOf("m", 2, 10, time.Minute), nil, 0, 2},
		{"below the minimum past the wait goes on demand", jobsOf("m", 2, 10, 2*time.Hour), nil, 2, 0},
		{"the minimum runs", jobsOf("m", 3, 10, 0), []int{3}, 0, 0},
		{"records split at the maximum", jobsOf("m", 12, 10, 0), []int{5, 5}, 0, 2},
		{"a full run and a remainder at the minimum", jobsOf("m", 8, 10, 0), []int{5, 3}, 0, 0},
		{"bytes split runs", jobsOf("m", 8, 300, 0), []int{3, 3}, 0, 2},
		{"bytes full below the minimum go on demand", jobsOf("m", 4, 600, 0), nil, 3, 1},
		{"a line larger than a run goes on demand", jobsOf("m", 1, 1001, 0), nil, 1, 0},
		{"models apart", concat(jobsOf("a", 3, 10, 0), jobsOf("b", 2, 10, 0)), []int{3}, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := bedrockbatch.MakePlan(tt.pending, func(string) bedrockbatch.Limits { return limits }, t0, time.Hour)
			var runs []int
			seen := map[string]int{}
			for _, r := range plan.Runs {
				runs = append(runs, len(r.Jobs))
				var bytes int64
				for i, p := range r.Jobs {
					seen[p.ID]++
					bytes += p.Bytes
					if p.Model != r.Model {
						t.Errorf("run of %s holds a job of %s", r.Model, p.Model)
					}
					if i > 0 && p.CreatedAt.Before(r.Jobs[i-1].CreatedAt) {
						t.Errorf("run of %s not oldest first", r.Model)
					}
				}
				if bytes != r.Bytes || bytes > limits.MaxFileBytes {
					t.Errorf("run of %d bytes (says %d), limit %d", bytes, r.Bytes, limits.MaxFileBytes)
				}
			}
			for _, p := range append(plan.OnDemand, plan.Waiting...) {
				seen[p.ID]++
			}
			for _, p := range tt.pending {
				if seen[p.ID] != 1 {
					t.Errorf("job %s is in the plan %d times, want once", p.ID, seen[p.ID])
				}
			}
			if fmt.Sprint(runs) != fmt.Sprint(tt.wantRuns) || len(plan.OnDemand) != tt.wantOnDemand || len(plan.Waiting) != tt.wantWaiting {
				t.Errorf("runs %v, on demand %d, waiting %d; want %v, %d, %d",
					runs, len(plan.OnDemand), len(plan.Waiting), tt.wantRuns, tt.wantOnDemand, tt.wantWaiting)
			}
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	for _, l := range []bedrockbatch.Limits{
		{MinRecords: 0, MaxRecords: 10, MaxFileBytes: 1, MaxJobBytes: 1},
		{MinRecords: 10, MaxRecords: 9, MaxFileBytes: 1, MaxJobBytes: 1},
		{MinRecords: 1, MaxRecords: 1, MaxFileBytes: 0, MaxJobBytes: 1},
	} {
		if l.Validate() == nil {
			t.Errorf("%+v was valid", l)
		}
	}
	if err := (bedrockbatch.Limits{MinRecords: 100, MaxRecords: 50_000, MaxFileBytes: 1 << 30, MaxJobBytes: 5 << 30}).Validate(); err != nil {
		t.Error(err)
	}
}
