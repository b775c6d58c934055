package jobs_test

import (
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

func TestRulesAllow(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	live := now.Add(time.Minute)
	lapsed := now.Add(-time.Millisecond)
	job := func(st jobs.Status, attempts int, lease time.Time) jobs.Job {
		return jobs.Job{Status: st, Attempts: attempts, LeaseUntil: lease}
	}
	tests := []struct {
		name    string
		t       jobs.Transition
		job     jobs.Job
		attempt int
		want    bool
	}{
		{"claim queued", jobs.Claim, job(jobs.StatusQueued, 0, time.Time{}), 0, true},
		{"claim running under a live lease", jobs.Claim, job(jobs.StatusRunning, 1, live), 0, false},
		{"claim running with a lapsed lease", jobs.Claim, job(jobs.StatusRunning, 1, lapsed), 0, true},
		{"claim a lease lapsing within the millisecond", jobs.Claim, job(jobs.StatusRunning, 1, now.Add(500*time.Microsecond)), 0, false},
		{"claim succeeded", jobs.Claim, job(jobs.StatusSucceeded, 1, time.Time{}), 0, false},
		{"finish by the holder", jobs.Finish, job(jobs.StatusRunning, 2, live), 2, true},
		{"finish by an older attempt", jobs.Finish, job(jobs.StatusRunning, 2, live), 1, false},
		{"finish a cancelled job", jobs.Finish, job(jobs.StatusCancelled, 2, time.Time{}), 2, false},
		{"save progress of a queued job", jobs.SaveProgress, job(jobs.StatusQueued, 2, time.Time{}), 2, false},
		{"cancel queued", jobs.Cancel, job(jobs.StatusQueued, 0, time.Time{}), 0, true},
		{"cancel running", jobs.Cancel, job(jobs.StatusRunning, 1, live), 0, true},
		{"cancel failed", jobs.Cancel, job(jobs.StatusFailed, 1, time.Time{}), 0, false},
		{"requeue failed", jobs.Requeue, job(jobs.StatusFailed, 3, time.Time{}), 0, true},
		{"requeue running under a live lease", jobs.Requeue, job(jobs.StatusRunning, 3, live), 0, false},
		{"requeue cancelled", jobs.Requeue, job(jobs.StatusCancelled, 3, time.Time{}), 0, false},
		{"mark failed with a lapsed lease", jobs.MarkFailed, job(jobs.StatusRunning, 1, lapsed), 0, true},
		{"mark succeeded failed", jobs.MarkFailed, job(jobs.StatusSucceeded, 1, time.Time{}), 0, false},
		{"abandon queued", jobs.AbandonEnqueue, job(jobs.StatusQueued, 0, time.Time{}), 0, true},
		{"abandon running", jobs.AbandonEnqueue, job(jobs.StatusRunning, 1, live), 0, false},
		{"reroute a waiting job", jobs.Reroute, job(jobs.StatusQueued, 0, time.Time{}), -1, true},
		{"reroute a job its run holds", jobs.Reroute, job(jobs.StatusRunning, 1, live), 1, true},
		{"reroute a job another run holds", jobs.Reroute, job(jobs.StatusRunning, 2, live), 1, false},
		{"reroute a succeeded job", jobs.Reroute, job(jobs.StatusSucceeded, 1, time.Time{}), 1, false},
		{"swap sent_at of running", jobs.SwapSentAt, job(jobs.StatusRunning, 1, lapsed), 0, false},
		{"settle a cancelled job's run", jobs.SettleRun, job(jobs.StatusCancelled, 1, time.Time{}), 0, true},
		{"settle the run of a succeeded job", jobs.SettleRun, job(jobs.StatusSucceeded, 1, time.Time{}), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jobs.Rules[tt.t].Allows(tt.job, now, tt.attempt); got != tt.want {
				t.Errorf("Rules[%s].Allows(%s at attempt %d) = %v, want %v", tt.t, tt.job.Status, tt.job.Attempts, got, tt.want)
			}
		})
	}
}

// Every rule allows something and leads nowhere but to a status the
// lifecycle knows: a rule with neither From, Lapsed nor Held would refuse
// every job, and its store's condition would be empty.
func TestEveryRuleIsComplete(t *testing.T) {
	for tr, r := range jobs.Rules {
		if len(r.From) == 0 && !r.Lapsed && !r.Held {
			t.Errorf("%s allows no state", tr)
		}
		if r.To != "" && !r.To.Valid() {
			t.Errorf("%s leads to unknown status %q", tr, r.To)
		}
		if r.By == "" {
			t.Errorf("%s does not say who calls it", tr)
		}
	}
}

// A transition that ends a counted job settles its budget in the same
// write, except a cancel inside an economy run: Bedrock may still process
// (and bill) its record, so the job keeps its reservation until SettleRun.
func TestRuleSettles(t *testing.T) {
	counted := jobs.Budget{Day: "2026-12-07", Reserved: 100}
	job := func(st jobs.Status, run string, b jobs.Budget) jobs.Job {
		j := jobs.Job{Status: st, Lane: jobs.LaneEconomy, Budget: b, Economy: &jobs.Economy{RunID: run}}
		return j
	}
	settled := counted
	settled.Settled = true
	tests := []struct {
		name string
		t    jobs.Transition
		job  jobs.Job
		want bool
	}{
		{"cancel a queued job", jobs.Cancel, job(jobs.StatusQueued, "", counted), true},
		{"cancel a job running on demand", jobs.Cancel, jobs.Job{Status: jobs.StatusRunning, Budget: counted}, true},
		{"cancel a job in its run", jobs.Cancel, job(jobs.StatusRunning, "run1", counted), false},
		{"fail a job in its run", jobs.Fail, job(jobs.StatusRunning, "run1", counted), true},
		{"settle a job cancelled in its run", jobs.SettleRun, job(jobs.StatusCancelled, "run1", counted), true},
		{"settle it again", jobs.SettleRun, job(jobs.StatusCancelled, "run1", settled), false},
		{"cancel a job counted nowhere", jobs.Cancel, job(jobs.StatusQueued, "", jobs.Budget{}), false},
		{"release", jobs.Release, jobs.Job{Status: jobs.StatusRunning, Budget: counted}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jobs.Rules[tt.t].Settles(tt.job); got != tt.want {
				t.Errorf("Rules[%s].Settles(%s, in run %v) = %v, want %v", tt.t, tt.job.Status, tt.job.InRun(), got, tt.want)
			}
		})
	}
}
