package batch

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
)

// transientCodes are the per-entry error codes of POST /generate/batch
// that a later call may not get: the entry was not stored (or its job was
// abandoned and its key freed), so sending it again is right.
var transientCodes = map[string]bool{"unavailable": true, "internal": true, "rate_limited": true}

// submit sends every line that has no job yet, in batches, with
// Concurrency calls in flight. Entries the API refused for a moment are
// sent again in later rounds, each line at most MaxAttempts times.
func (r *run) submit() error {
	var pending []Line
	for _, l := range r.lines {
		if l.Err != nil {
			continue
		}
		if _, ok := r.track.get(l.N); ok {
			continue
		}
		pending = append(pending, l)
	}
	tries := map[int]int{}
	for round := 1; len(pending) > 0; round++ {
		again := r.submitRound(pending)
		if err := r.stopErr(); err != nil {
			return err
		}
		pending = pending[:0]
		for _, l := range again {
			if tries[l.N]++; tries[l.N] < r.o.MaxAttempts {
				pending = append(pending, l)
			}
		}
		if len(pending) == 0 {
			break
		}
		if r.client.policy.budget.Add(-1) < 0 {
			return ErrBudget
		}
		r.client.retries.Add(1)
		if err := r.o.Sleep(r.halt, r.client.backoff(round)); err != nil {
			return r.stopErr()
		}
	}
	return nil
}

// chunks groups lines into batches of at most BatchSize entries and
// MaxBatchBytes of body. A line too big for any batch is refused here.
func (r *run) chunks(lines []Line) [][]Line {
	envelope := len(`{"requests":[]}`) + len(envelopeLane(r.o.Economy, r.o.EconomyFallback))
	var out [][]Line
	var cur []Line
	size := envelope
	for _, l := range lines {
		n := len(l.Entry) + 1 // the comma
		if envelope+n > r.o.MaxBatchBytes {
			r.reject(l, &ErrorInfo{Code: "payload_too_large", Field: "body",
				Message: fmt.Sprintf("The request is %d bytes; a batch call carries at most %d.", len(l.Entry), r.o.MaxBatchBytes)})
			continue
		}
		if len(cur) == r.o.BatchSize || size+n > r.o.MaxBatchBytes {
			out = append(out, cur)
			cur, size = nil, envelope
		}
		cur = append(cur, l)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// reject records that a line will never become a job.
func (r *run) reject(l Line, e *ErrorInfo) {
	rec := Record{Line: l.N, Sum: l.Sum, Key: l.Key, Status: statusRejected, Error: e}
	if err := r.save([]Record{rec}, nil); err != nil {
		r.fail(err)
	}
}

// submitRound sends lines once and returns those to send again.
func (r *run) submitRound(lines []Line) []Line {
	work := make(chan []Line)
	var mu sync.Mutex
	var again []Line
	var wg sync.WaitGroup
	for range r.o.Concurrency {
		wg.Go(func() {
			for c := range work {
				if a := r.sendChunk(c); len(a) > 0 {
					mu.Lock()
					again = append(again, a...)
					mu.Unlock()
				}
			}
		})
	}
	for _, c := range r.chunks(lines) {
		if r.halt.Err() != nil {
			break
		}
		select {
		case work <- c:
		case <-r.halt.Done():
		}
	}
	close(work)
	wg.Wait()
	return again
}

// sendChunk makes one batch call and records its answers. It returns the
// lines to send again in a later round.
func (r *run) sendChunk(lines []Line) []Line {
	entries := make([][]byte, len(lines))
	for i, l := range lines {
		entries[i] = l.Entry
	}
	results, err := r.client.submitBatch(entries)
	var apiErr *APIError
	switch {
	case err == nil:
	case errors.Is(err, ErrStopped):
		return nil // unsent; the next run sends them
	case errors.As(err, &apiErr) && tooBig(apiErr) && len(lines) > 1:
		// The API takes smaller batches than we sent (its limits are
		// configurable): halve until it fits.
		h := len(lines) / 2
		return append(r.sendChunk(lines[:h]), r.sendChunk(lines[h:])...)
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusRequestEntityTooLarge:
		r.reject(lines[0], &ErrorInfo{Code: apiErr.Code, Message: apiErr.Message, Field: apiErr.Field})
		return nil
	case errors.Is(err, errGaveUp):
		r.noteUnsent(lines, err)
		return nil
	default:
		// A 4xx for the whole call (a wrong URL, a refused token), the
		// retry budget, a state write: nothing later would go better.
		r.fail(err)
		return nil
	}

	recs := make([]Record, 0, len(lines))
	replayed := map[int]bool{}
	var again []Line
	for i, res := range results {
		l := lines[i]
		switch {
		case res.Error != nil && transientCodes[res.Error.Code]:
			again = append(again, l)
			r.noteUnsent([]Line{l}, fmt.Errorf("%s: %s", res.Error.Code, res.Error.Message))
		case res.Error != nil:
			recs = append(recs, Record{Line: l.N, Sum: l.Sum, Key: l.Key, Status: statusRejected, Error: res.Error})
		case res.JobID == "":
			r.fail(fmt.Errorf("POST /generate/batch: entry %d has neither a job nor an error", i))
			return nil
		default:
			recs = append(recs, Record{Line: l.N, Sum: l.Sum, Key: l.Key, JobID: res.JobID, Status: res.Status})
			replayed[l.N] = res.Replayed
		}
	}
	if err := r.save(recs, replayed); err != nil {
		r.fail(err)
		return nil
	}
	if r.o.OnBatch != nil {
		r.o.OnBatch(len(recs))
	}
	return again
}

// tooBig reports an answer that a smaller batch would avoid: the body
// over the API's size limit, or more entries than it takes.
func tooBig(e *APIError) bool {
	return e.Status == http.StatusRequestEntityTooLarge ||
		(e.Status == http.StatusBadRequest && e.Field == "requests")
}

// noteUnsent remembers why lines have no answer yet, for the results.
func (r *run) noteUnsent(lines []Line, err error) {
	r.unsentMu.Lock()
	defer r.unsentMu.Unlock()
	if r.unsent == nil {
		r.unsent = map[int]string{}
	}
	for _, l := range lines {
		r.unsent[l.N] = err.Error()
	}
}
