package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// The lanes' measurements (scripts/measure/lanes, docs/benchmarks.md "Many users at
// once"): each starts a dev stack of its own, drives it as users would and
// reads the jobs table afterwards. This file has what they share.

// Figure is one measured figure against its target.
type Figure struct {
	Name   string
	Value  string
	Target string // "" for a figure shown without a target
	OK     bool
}

// LaneReport is what one of the lanes' measurements found.
type LaneReport struct {
	Scenario string
	Notes    []string // what was done and seen, a line each
	Figures  []Figure
}

// OK reports whether every figure with a target met it.
func (r *LaneReport) OK() bool {
	for _, f := range r.Figures {
		if f.Target != "" && !f.OK {
			return false
		}
	}
	return true
}

func (r *LaneReport) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *LaneReport) figure(name, value, target string, ok bool) {
	r.Figures = append(r.Figures, Figure{Name: name, Value: value, Target: target, OK: ok})
}

func (r *LaneReport) show(name, value string) { r.figure(name, value, "", true) }

// Write prints the report: its notes, then a table of its figures.
func (r *LaneReport) Write(w io.Writer) {
	fmt.Fprintf(w, "== %s\n", r.Scenario)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "   %s\n", n)
	}
	width := 0
	for _, f := range r.Figures {
		width = max(width, len(f.Name))
	}
	for _, f := range r.Figures {
		verdict := ""
		if f.Target != "" {
			verdict = "ok    target " + f.Target
			if !f.OK {
				verdict = "MISSED target " + f.Target
			}
		}
		fmt.Fprintf(w, "   %-*s  %-14s %s\n", width, f.Name, f.Value, verdict)
	}
}

// maxBatch is the API's POST /generate/batch entries a call (its default).
const maxBatch = 100

// submitBulk sends n bulk jobs of user u (the u-th of the run) with POST
// /generate/batch, maxBatch entries a call, each entry with its own
// idempotency key, as scripts/batch does. A call the API did not take (no
// answer, 429, 5xx) is sent again with the same keys after its
// Retry-After. It returns the job ids in order.
func submitBulk(ctx context.Context, c *Client, run string, u int, user User, n, maxTokens int) ([]string, error) {
	return submitBulkOf(ctx, c, run, u, user, n, maxTokens, Prompt)
}

// submitBulkOf is submitBulk with each job's prompt made by prompt.
func submitBulkOf(ctx context.Context, c *Client, run string, u int, user User, n, maxTokens int, prompt func(key string, u, j int) string) ([]string, error) {
	ids := make([]string, 0, n)
	for from := 0; from < n; from += maxBatch {
		entries := make([]BatchEntry, 0, maxBatch)
		for j := from; j < min(n, from+maxBatch); j++ {
			key := Key(run, u, j)
			entries = append(entries, BatchEntry{Prompt: prompt(key, u, j), IdempotencyKey: key, MaxTokens: maxTokens})
		}
		results, err := batchRetrying(ctx, c, user.Token, entries)
		if err != nil {
			return ids, err
		}
		for i, r := range results {
			if r.JobID == "" {
				return ids, fmt.Errorf("entry %s refused: %s", entries[i].IdempotencyKey, r.Error)
			}
			ids = append(ids, r.JobID)
		}
	}
	return ids, nil
}

// batchRetrying calls POST /generate/batch until it is taken (202), or
// answered with something not worth retrying, or two minutes have passed.
func batchRetrying(ctx context.Context, c *Client, token string, entries []BatchEntry) ([]BatchResult, error) {
	deadline := time.Now().Add(2 * time.Minute)
	backoff := 250 * time.Millisecond
	for {
		res, results, err := c.GenerateBatch(ctx, token, entries)
		switch {
		case err == nil && res.Status == http.StatusAccepted:
			if len(results) != len(entries) {
				return nil, fmt.Errorf("%s: %d results for %d entries", RouteBatch, len(results), len(entries))
			}
			return results, nil
		case err == nil && res.Status != http.StatusTooManyRequests && res.Status < 500:
			return nil, fmt.Errorf("%s: status %d: %s", RouteBatch, res.Status, res.Body)
		}
		wait := backoff
		if ra, _ := res.RetryAfter(); err == nil && ra > 0 {
			wait = ra
		}
		if time.Now().Add(wait).After(deadline) {
			if err == nil {
				err = fmt.Errorf("%s: status %d: %s", RouteBatch, res.Status, res.Body)
			}
			return nil, fmt.Errorf("gave up after two minutes: %w", err)
		}
		if !sleepUntil(ctx, time.Now().Add(wait)) {
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// generateOne calls POST /generate for user until it is taken, as
// generateRetrying does, and returns the job id.
func generateOne(ctx context.Context, c *Client, user User, key string, req GenerateRequest) (string, error) {
	res, a, _, err := generateRetrying(ctx, c, 2*time.Minute, user.Token, key, req)
	if err != nil {
		return "", err
	}
	if res.Status != http.StatusAccepted {
		return "", fmt.Errorf("%s: status %d: %s", RouteGenerate, res.Status, res.Body)
	}
	return a.JobID, nil
}

// errWaitTimeout is waitJobs' error when its timeout passes first.
var errWaitTimeout = errors.New("the jobs did not get there in time")

// waitJobs reads users' jobs from st's table every `every` until done says
// the records are what the caller waits for, and returns them.
func waitJobs(ctx context.Context, st *Stack, users []User, every, timeout time.Duration, done func(map[string][]JobRecord) bool) (map[string][]JobRecord, error) {
	deadline := time.Now().Add(timeout)
	for {
		recs, err := ReadJobs(ctx, st.DB, st.Info.TableName, users)
		if err != nil {
			return nil, err
		}
		if done(recs) {
			return recs, nil
		}
		if time.Now().After(deadline) {
			return recs, fmt.Errorf("%w (%s)", errWaitTimeout, timeout)
		}
		if !sleepUntil(ctx, time.Now().Add(every)) {
			return recs, ctx.Err()
		}
	}
}

// pick returns the records of ids, in their order; a missing one is a
// zero record.
func pick(recs []JobRecord, ids []string) []JobRecord {
	byID := make(map[string]JobRecord, len(recs))
	for _, r := range recs {
		byID[r.ID] = r
	}
	out := make([]JobRecord, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out
}

// allTerminal reports whether every record has a terminal status.
func allTerminal(recs []JobRecord) bool {
	for _, r := range recs {
		if !jobs.Status(r.Status).Terminal() {
			return false
		}
	}
	return true
}

// countStatus counts records per status.
func countStatus(recs []JobRecord) map[string]int {
	out := map[string]int{}
	for _, r := range recs {
		out[r.Status]++
	}
	return out
}

// queueWaits is each started record's started_at - created_at, sorted.
func queueWaits(recs []JobRecord) []time.Duration {
	var out []time.Duration
	for _, r := range recs {
		created, started, _ := r.Times()
		if !created.IsZero() && !started.IsZero() {
			out = append(out, started.Sub(created))
		}
	}
	slices.Sort(out)
	return out
}

// runTimes is each finished record's finished_at - started_at, sorted.
func runTimes(recs []JobRecord) []time.Duration {
	var out []time.Duration
	for _, r := range recs {
		_, started, finished := r.Times()
		if !started.IsZero() && !finished.IsZero() {
			out = append(out, finished.Sub(started))
		}
	}
	slices.Sort(out)
	return out
}

// busy is how many of recs ran at once on average between from and to:
// the time each spent running inside the window, summed, over the
// window's length. A job still running counts until to.
func busy(recs []JobRecord, from, to time.Time) float64 {
	if !to.After(from) {
		return 0
	}
	var sum time.Duration
	for _, r := range recs {
		_, started, finished := r.Times()
		if started.IsZero() {
			continue
		}
		if finished.IsZero() {
			finished = to
		}
		s, e := started, finished
		if s.Before(from) {
			s = from
		}
		if e.After(to) {
			e = to
		}
		if e.After(s) {
			sum += e.Sub(s)
		}
	}
	return float64(sum) / float64(to.Sub(from))
}

// span is the earliest created_at and the latest finished_at of recs.
func span(recs []JobRecord) (first, last time.Time) {
	for _, r := range recs {
		created, _, finished := r.Times()
		if !created.IsZero() && (first.IsZero() || created.Before(first)) {
			first = created
		}
		if finished.After(last) {
			last = finished
		}
	}
	return first, last
}

// secs formats d in seconds with one decimal.
func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// durations lists ds in seconds, "1.2 2.3 s".
func durations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.1f", d.Seconds())
	}
	return strings.Join(parts, " ") + " s"
}
