package loadtest

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

// rec is a job record created at c, started at s and finished at f
// seconds after t0 (a negative time: not yet), using tokens.
func rec(c, s, f float64, tokens int) JobRecord {
	at := func(x float64) string {
		if x < 0 {
			return ""
		}
		return t0.Add(time.Duration(x * float64(time.Second))).Format(time.RFC3339Nano)
	}
	return JobRecord{CreatedAt: at(c), StartedAt: at(s), FinishedAt: at(f), InputTokens: tokens / 2, OutputTokens: tokens - tokens/2}
}

func TestBusyIsTheAverageNumberRunningInTheWindow(t *testing.T) {
	t.Parallel()
	sec := func(x float64) time.Time { return t0.Add(time.Duration(x * float64(time.Second))) }
	for _, tc := range []struct {
		name     string
		recs     []JobRecord
		from, to float64
		want     float64
	}{
		{"one job the whole window", []JobRecord{rec(0, 0, 10, 0)}, 0, 10, 1},
		{"two jobs half the window each", []JobRecord{rec(0, 0, 5, 0), rec(0, 5, 10, 0)}, 0, 10, 1},
		{"parts outside the window do not count", []JobRecord{rec(0, 0, 20, 0), rec(0, 8, 30, 0)}, 5, 10, 1.4},
		{"a job still running counts to the end", []JobRecord{rec(0, 5, -1, 0)}, 0, 10, 0.5},
		{"a job not started does not count", []JobRecord{rec(0, -1, -1, 0)}, 0, 10, 0},
		{"an empty window", []JobRecord{rec(0, 0, 10, 0)}, 5, 5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := busy(tc.recs, sec(tc.from), sec(tc.to)); got < tc.want-1e-9 || got > tc.want+1e-9 {
				t.Errorf("busy = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestQuotaUseCountsTokensOfJobsStartedWhileTheBacklogLasted(t *testing.T) {
	t.Parallel()
	// Starts at 0, 30, 60, 90 and 120 s with 500 tokens each: the first
	// four are in [0 s, 120 s), 2,000 tokens in 2 minutes of a 1,000-a-
	// minute quota: all of it.
	var recs []JobRecord
	for i := range 5 {
		recs = append(recs, rec(0, float64(30*i), float64(30*i+10), 500))
	}
	use, minutes := quotaUse(recs, 1000)
	if use < 0.999 || use > 1.001 {
		t.Errorf("use = %v, want 1", use)
	}
	if minutes != "100% 100% " {
		t.Errorf("minutes = %q", minutes)
	}
	if use, _ := quotaUse(recs, 4000); use < 0.249 || use > 0.251 {
		t.Errorf("against 4,000 a minute: use = %v, want 0.25", use)
	}
	if use, _ := quotaUse(recs[:1], 1000); use != 0 {
		t.Errorf("one job: use = %v, want 0 (no span)", use)
	}
}

func TestQueueWaitsAndRunTimesAreSortedAndSkipWhatDidNotHappen(t *testing.T) {
	t.Parallel()
	recs := []JobRecord{rec(0, 3, 4, 0), rec(0, 1, 5, 0), rec(0, -1, -1, 0)}
	if got := durations(queueWaits(recs)); got != "1.0 3.0 s" {
		t.Errorf("waits %s", got)
	}
	if got := durations(runTimes(recs)); got != "1.0 4.0 s" {
		t.Errorf("run times %s", got)
	}
	first, last := span(recs)
	if !first.Equal(t0) || !last.Equal(t0.Add(5*time.Second)) {
		t.Errorf("span %v to %v", first, last)
	}
}

func TestALaneReportFailsOnAMissedTargetOnly(t *testing.T) {
	t.Parallel()
	r := &LaneReport{Scenario: "s"}
	r.show("shown", "1")
	r.figure("met", "2", "≤ 3", true)
	if !r.OK() {
		t.Error("a report with every target met is not OK")
	}
	r.figure("missed", "9", "≤ 3", false)
	if r.OK() {
		t.Error("a report with a missed target is OK")
	}
	var b strings.Builder
	r.Write(&b)
	for _, want := range []string{"== s", "ok    target ≤ 3", "MISSED target ≤ 3"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestAtOnceIsTheCallsRunningInTheWindowOnAverageAndAtTheMost(t *testing.T) {
	t.Parallel()
	sec := func(x float64) time.Time { return t0.Add(time.Duration(x * float64(time.Second))) }
	call := func(s, e float64) callSpan { return callSpan{start: sec(s), end: sec(e)} }
	for _, tc := range []struct {
		name     string
		spans    []callSpan
		from, to float64
		mean     float64
		most     int
	}{
		{"two at once all the window", []callSpan{call(0, 10), call(0, 10)}, 0, 10, 2, 2},
		{"one after the other", []callSpan{call(0, 5), call(5, 10)}, 0, 10, 1, 1},
		{"parts outside the window do not count to the mean", []callSpan{call(0, 20), call(8, 30)}, 5, 10, 1.4, 2},
		{"a seat given back and taken at one instant is not two at once", []callSpan{call(0, 4), call(4, 8), call(0, 8)}, 0, 8, 2, 2},
		{"none", nil, 0, 10, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mean, most := atOnce(tc.spans, sec(tc.from), sec(tc.to))
			if mean < tc.mean-1e-9 || mean > tc.mean+1e-9 || most != tc.most {
				t.Errorf("atOnce = %v, %d; want %v, %d", mean, most, tc.mean, tc.most)
			}
		})
	}
}
