package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// listThreshold is the number of unfinished jobs above which a polling
// round reads GET /jobs pages (100 jobs a call) instead of one GET
// /jobs/{id} per job. A round is about a second apart (a running job's
// Retry-After), so 8 keeps a waiting run under the API's default
// per-user rate of 10 requests a second (PROMPTQ_LIMIT_REQUESTS_PER_SECOND).
const listThreshold = 8

// statusMissing marks a job the API no longer has (deleted after its
// retention, or never stored).
const statusMissing = "missing"

// wait polls the unfinished jobs until every one is terminal, the run is
// stopped, or WaitTimeout passes. Terminal jobs are saved to the state as
// they are seen, so a re-run fetches only the rest.
func (r *run) wait() error {
	ctx := r.halt
	if r.o.WaitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.o.WaitTimeout)
		defer cancel()
	}
	for {
		pending := r.unfinished()
		if len(pending) == 0 {
			return nil
		}
		var delay time.Duration
		if len(pending) > listThreshold {
			delay = r.pollByList(pending)
		} else {
			delay = r.pollEach(pending)
		}
		if err := r.stopErr(); err != nil {
			return err
		}
		if len(r.unfinished()) == 0 {
			return nil
		}
		if err := r.o.Sleep(ctx, delay); err != nil {
			if err := r.stopErr(); err != nil {
				return err
			}
			return ErrWaitTimeout
		}
	}
}

// unfinished returns the records of jobs not yet read in a terminal
// status, ordered by job id (which is by creation time).
func (r *run) unfinished() []Record {
	r.track.mu.Lock()
	defer r.track.mu.Unlock()
	var out []Record
	for _, rec := range r.track.recs {
		if rec.JobID != "" && !rec.Done {
			out = append(out, rec)
		}
	}
	slices.SortFunc(out, func(a, b Record) int {
		switch {
		case a.JobID < b.JobID:
			return -1
		case a.JobID > b.JobID:
			return 1
		}
		return 0
	})
	return out
}

// pollEach reads each job with GET /jobs/{id} and returns how long to wait
// before the next round: the shortest Retry-After the API gave.
func (r *run) pollEach(pending []Record) time.Duration {
	var mu sync.Mutex
	delay := time.Duration(0)
	var done []Record
	r.forEach(pending, func(rec Record) {
		v, ra, err := r.client.getJob(rec.JobID)
		var apiErr *APIError
		switch {
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
			rec.Status, rec.Done = statusMissing, true
			rec.Error = &ErrorInfo{Code: "not_found", Message: "The API no longer has this job (jobs are kept for 30 days)."}
		case errors.Is(err, errGaveUp):
			return // try again next round
		case err != nil:
			r.fail(err)
			return
		default:
			rec = withJob(rec, v)
		}
		mu.Lock()
		defer mu.Unlock()
		if rec.Done {
			done = append(done, rec)
		} else {
			r.track.set(rec, false)
			if ra > 0 && (delay == 0 || ra < delay) {
				delay = ra
			}
		}
	})
	if err := r.save(done, nil); err != nil {
		r.fail(err)
	}
	if delay == 0 {
		delay = r.o.PollInterval
	}
	return delay
}

// pollByList reads GET /jobs pages, newest first, until it has seen every
// pending job or passed the oldest (ids sort by creation time). Listings
// carry previews: a finished job whose text was cut is read whole with GET
// /jobs/{id}, as is any pending job the pages did not show.
func (r *run) pollByList(pending []Record) time.Duration {
	want := make(map[string]Record, len(pending))
	for _, rec := range pending {
		want[rec.JobID] = rec
	}
	oldest := pending[0].JobID
	var done, fetch []Record
	cursor := ""
	for len(want) > 0 {
		page, next, err := r.client.listJobs(cursor)
		if errors.Is(err, errGaveUp) {
			return r.o.PollInterval
		}
		if err != nil {
			r.fail(err)
			return 0
		}
		for _, v := range page {
			rec, ok := want[v.JobID]
			if !ok {
				continue
			}
			delete(want, v.JobID)
			switch {
			case jobs.Status(v.Status).Terminal() && v.Truncated:
				fetch = append(fetch, rec)
			case jobs.Status(v.Status).Terminal():
				if r.structured[rec.Line] && v.Status == string(jobs.StatusSucceeded) {
					if v.GeneratedJSON = listedJSON(v.GeneratedText); v.GeneratedJSON == nil {
						fetch = append(fetch, rec)
						continue
					}
				}
				done = append(done, withJob(rec, v))
			default:
				r.track.set(withJob(rec, v), false)
			}
		}
		if next == "" || len(page) == 0 || page[len(page)-1].JobID < oldest {
			break
		}
		cursor = next
	}
	for _, rec := range want {
		fetch = append(fetch, rec)
	}
	if err := r.save(done, nil); err != nil {
		r.fail(err)
		return 0
	}
	if len(fetch) > 0 {
		r.pollEach(fetch)
	}
	return r.o.PollInterval
}

// listedJSON is the generated_json of a succeeded job with a schema that
// a listing showed whole: listings leave generated_json out (it can be
// large), and a succeeded job's is its text, which the worker checked
// against the schema, as compact JSON (httpapi's viewOf). Reading it from
// the text here spares a GET /jobs/{id} a job. nil if the text is not
// JSON (then the job is read whole).
func listedJSON(text string) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(text)) != nil {
		return nil
	}
	return buf.Bytes()
}

// forEach calls f for each record with Concurrency calls at once, and
// stops handing out records once the run halts.
func (r *run) forEach(recs []Record, f func(Record)) {
	work := make(chan Record)
	var wg sync.WaitGroup
	for range min(r.o.Concurrency, len(recs)) {
		wg.Go(func() {
			for rec := range work {
				f(rec)
			}
		})
	}
	for _, rec := range recs {
		if r.halt.Err() != nil {
			break
		}
		select {
		case work <- rec:
		case <-r.halt.Done():
		}
	}
	close(work)
	wg.Wait()
}

// withJob updates rec from the API's view of its job.
func withJob(rec Record, v jobView) Record {
	rec.Status = v.Status
	tokens := v.Tokens
	rec.Tokens = &tokens
	rec.GeneratedText, rec.GeneratedJSON = v.GeneratedText, v.GeneratedJSON
	rec.Error = nil
	if v.Error != nil {
		rec.Error = &ErrorInfo{Code: v.Error.Code, Message: v.Error.Message}
	}
	rec.StopReason, rec.Model = v.StopReason, v.Model
	rec.Done = jobs.Status(v.Status).Terminal() && !v.Truncated
	if !rec.Done {
		rec.GeneratedText, rec.GeneratedJSON = "", nil // partial text is not kept in the state
	}
	return rec
}
