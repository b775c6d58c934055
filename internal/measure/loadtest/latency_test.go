package loadtest_test

import (
	"testing"
	"time"

	"github.com/promptq/promptq/internal/measure/loadtest"
)

func TestPercentileIsNearestRank(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}, {0.5, time.Millisecond}} {
		if got := loadtest.Percentile(ds, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if loadtest.Percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestLatenciesTimeOnlySuccessesButCountEveryStatus(t *testing.T) {
	t.Parallel()
	l := loadtest.NewLatencies()
	l.Add("GET /jobs", 200, 10*time.Millisecond)
	l.Add("GET /jobs", 200, 30*time.Millisecond)
	l.Add("GET /jobs", 500, time.Second)
	l.Add("GET /jobs", 0, time.Second)
	l.Add("POST /generate", 202, 5*time.Millisecond)
	ss := l.Summaries()
	if len(ss) != 2 || ss[0].Route != "GET /jobs" {
		t.Fatalf("summaries %+v", ss)
	}
	s := ss[0]
	if s.Calls != 4 || s.OK != 2 || s.P50 != 10*time.Millisecond || s.Max != 30*time.Millisecond || s.Mean != 20*time.Millisecond {
		t.Errorf("GET /jobs %+v", s)
	}
	if got := loadtest.StatusString(s.Statuses); got != "none×1 200×2 500×1" {
		t.Errorf("statuses %q", got)
	}
	if got := l.BilledMillis(); got != 10+30+1000+5 {
		t.Errorf("billed %v ms, want every answered call", got)
	}
	if loadtest.Millis(1500*time.Microsecond) != "1.5" {
		t.Errorf("Millis = %s", loadtest.Millis(1500*time.Microsecond))
	}
}
