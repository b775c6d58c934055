package loadtest

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Latencies records how long API calls took, per route, and the status
// codes they got. Safe for concurrent use.
type Latencies struct {
	mu       sync.Mutex
	ok       map[string][]time.Duration // 2xx only
	statuses map[string]map[int]int     // 0: no response (connection error)
	billedMS float64                    // every answered call, rounded up to the ms
}

// NewLatencies returns an empty record.
func NewLatencies() *Latencies {
	return &Latencies{ok: map[string][]time.Duration{}, statuses: map[string]map[int]int{}}
}

// Add records one call of route that got status (0 for none) after d.
func (l *Latencies) Add(route string, status int, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if status >= 200 && status < 300 {
		l.ok[route] = append(l.ok[route], d)
	}
	if status != 0 {
		l.billedMS += math.Ceil(float64(d) / float64(time.Millisecond))
	}
	if l.statuses[route] == nil {
		l.statuses[route] = map[int]int{}
	}
	l.statuses[route][status]++
}

// BilledMillis is the sum of every answered call's time, each rounded up
// to the millisecond as Lambda bills: an upper bound on the API function's
// billed time for those calls, since it includes the network and gateway.
func (l *Latencies) BilledMillis() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.billedMS
}

// Summary is the latency of one route's successful calls.
type Summary struct {
	Route                    string
	Calls                    int         // all calls, whatever their status
	Statuses                 map[int]int // calls per status; 0 is no response
	OK                       int         // calls with a 2xx, which the times are of
	P50, P90, P99, Max, Mean time.Duration
}

// Summaries returns one Summary per route, sorted by route.
func (l *Latencies) Summaries() []Summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Summary
	for route, st := range l.statuses {
		s := Summary{Route: route, Statuses: map[int]int{}}
		for code, n := range st {
			s.Statuses[code] = n
			s.Calls += n
		}
		ds := slices.Clone(l.ok[route])
		slices.Sort(ds)
		s.OK = len(ds)
		if len(ds) > 0 {
			s.P50, s.P90, s.P99 = Percentile(ds, 50), Percentile(ds, 90), Percentile(ds, 99)
			s.Max = ds[len(ds)-1]
			var sum time.Duration
			for _, d := range ds {
				sum += d
			}
			s.Mean = sum / time.Duration(len(ds))
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Route < out[j].Route })
	return out
}

// Percentile is the nearest-rank p-th percentile of sorted (ascending),
// 0 if it is empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// StatusString lists statuses as "202×1000 429×3", with "none" for calls
// that got no response.
func StatusString(st map[int]int) string {
	codes := make([]int, 0, len(st))
	for c := range st {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var b strings.Builder
	for i, c := range codes {
		if i > 0 {
			b.WriteByte(' ')
		}
		name := fmt.Sprint(c)
		if c == 0 {
			name = "none"
		}
		fmt.Fprintf(&b, "%s×%d", name, st[c])
	}
	return b.String()
}

// Millis formats d in milliseconds with one decimal.
func Millis(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}
