package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/worker"
)

// ModelCalls counts a worker model's calls per job, telling jobs apart by
// the key at the start of their prompt ([Prompt]), and keeps when each call
// that ran started and ended ([ModelCalls.AtOnce]). It can also append
// every call to a file, so that counts survive a process that is killed,
// and throttle calls on purpose. Safe for concurrent use.
type ModelCalls struct {
	mu       sync.Mutex
	calls    map[string]int
	outcomes map[string]int // "ok", "throttled (injected)", or the error's kind
	ran      []callSpan     // the calls the model ran (not refused for its quota)
	running  int            // calls in the model now
	out      io.Writer
	pid      int

	throttleUntil time.Time
	throttleShare int // 1 in throttleShare calls is throttled during the window
	seen          int
}

// NewModelCalls returns a counter that also writes each call, as a JSON
// line, to out (nil: nowhere).
func NewModelCalls(out io.Writer) *ModelCalls {
	return &ModelCalls{calls: map[string]int{}, outcomes: map[string]int{}, out: out, pid: os.Getpid()}
}

// Throttle makes every other call fail for d from now, as a model that is
// throttling half its callers would: the call is counted and returns a
// rate-limit error, the wrapped model is not called.
func (m *ModelCalls) Throttle(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.throttleUntil = time.Now().Add(d)
	m.throttleShare = 2
}

// Counts returns the calls per key so far.
func (m *ModelCalls) Counts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.calls)
}

// Outcomes returns how many calls ended how: "ok", "throttled (injected)",
// or a model error's kind.
func (m *ModelCalls) Outcomes() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.outcomes)
}

// ErrThrottled is what a throttled call returns: a rate-limit error, which
// the worker retries.
var ErrThrottled = &jobs.Error{Kind: jobs.KindRateLimited,
	Message: "The model is throttling (injected by the load test)."}

// Wrap returns inner, counted.
func (m *ModelCalls) Wrap(inner worker.Model) worker.Model { return countedModel{m, inner} }

type countedModel struct {
	m     *ModelCalls
	inner worker.Model
}

// ModelCall is one line of a model-calls file.
type ModelCall struct {
	Event  string    `json:"event"` // "call" when it starts, "end" when it returns
	Key    string    `json:"key"`
	PID    int       `json:"pid"`
	Time   time.Time `json:"time"`
	Result string    `json:"result,omitempty"` // on "end"
}

var keyPattern = regexp.MustCompile(`^\[([!-Z^-~]+)\]`) // printable ASCII but brackets

// KeyOf is the key at the start of a prompt, or "".
func KeyOf(prompt string) string {
	if m := keyPattern.FindStringSubmatch(prompt); m != nil {
		return m[1]
	}
	return ""
}

func (c countedModel) Generate(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	m := c.m
	key := KeyOf(req.Prompt)
	m.mu.Lock()
	m.calls[key]++
	m.running++
	m.seen++
	throttle := time.Now().Before(m.throttleUntil) && m.seen%m.throttleShare == 0
	m.mu.Unlock()
	m.write(ModelCall{Event: "call", Key: key})

	var p jobs.Progress
	var err error
	result, start := "ok", time.Now()
	if throttle {
		err, result = ErrThrottled, "throttled (injected)"
	} else {
		p, err = c.inner.Generate(ctx, req, onDelta)
		if err != nil {
			result = string(jobs.KindOf(err))
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				result = "context ended"
			}
		}
	}
	m.mu.Lock()
	m.outcomes[result]++
	m.running--
	if !throttle && jobs.KindOf(err) != jobs.KindRateLimited {
		m.ran = append(m.ran, callSpan{start: start, end: time.Now()})
	}
	m.mu.Unlock()
	m.write(ModelCall{Event: "end", Key: key, Result: result})
	return p, err
}

// callSpan is when one call ran.
type callSpan struct{ start, end time.Time }

// Running is how many calls are in the model now.
func (m *ModelCalls) Running() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running
}

// Busy is the time the calls the model ran took, summed.
func (m *ModelCalls) Busy() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum time.Duration
	for _, c := range m.ran {
		sum += c.end.Sub(c.start)
	}
	return sum
}

// Ran returns when the first call the model ran started and when the last
// one started (zero times if it ran none).
func (m *ModelCalls) Ran() (first, last time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.ran {
		if first.IsZero() || c.start.Before(first) {
			first = c.start
		}
		if c.start.After(last) {
			last = c.start
		}
	}
	return first, last
}

// AtOnce is how many calls the model ran at once between from and to: on
// average (the time each spent running inside the window, summed, over the
// window's length) and at the most.
func (m *ModelCalls) AtOnce(from, to time.Time) (mean float64, most int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return atOnce(m.ran, from, to)
}

func atOnce(spans []callSpan, from, to time.Time) (mean float64, most int) {
	type edge struct {
		at    time.Time
		delta int
	}
	var sum time.Duration
	var edges []edge
	for _, c := range spans {
		s, e := later(c.start, from), earlier(c.end, to)
		if e.After(s) {
			sum += e.Sub(s)
		}
		edges = append(edges, edge{c.start, 1}, edge{c.end, -1})
	}
	// Ends before starts at the same instant: a seat given back and taken
	// in one moment is not two calls at once.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	n := 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	if to.After(from) {
		mean = float64(sum) / float64(to.Sub(from))
	}
	return mean, most
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (m *ModelCalls) write(c ModelCall) {
	if m.out == nil {
		return
	}
	c.PID, c.Time = m.pid, time.Now().UTC()
	b, _ := json.Marshal(c)
	m.mu.Lock()
	defer m.mu.Unlock()
	// One write per line, unbuffered: what a killed process wrote stays.
	_, _ = m.out.Write(append(b, '\n'))
}

// CallLog is what a model-calls file says.
type CallLog struct {
	Calls   map[string]int // calls per key
	Unended map[string]int // calls per key that never returned: their process died
	Results map[string]int // how the calls that returned ended ("ok", ...)
}

// ReadModelCalls reads a model-calls file.
func ReadModelCalls(path string) (CallLog, error) {
	f, err := os.Open(path)
	if err != nil {
		return CallLog{}, fmt.Errorf("read model calls: %w", err)
	}
	defer f.Close()
	l := CallLog{Calls: map[string]int{}, Unended: map[string]int{}, Results: map[string]int{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var c ModelCall
		if json.Unmarshal(sc.Bytes(), &c) != nil {
			continue // a line cut short by a kill
		}
		switch c.Event {
		case "call":
			l.Calls[c.Key]++
			l.Unended[c.Key]++
		case "end":
			l.Unended[c.Key]--
			l.Results[c.Result]++
		}
	}
	for k, n := range l.Unended {
		if n <= 0 {
			delete(l.Unended, k)
		}
	}
	if err := sc.Err(); err != nil {
		return CallLog{}, fmt.Errorf("read model calls: %w", err)
	}
	return l, nil
}
