package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// getJob is GET /jobs/{id}.
func (h *Handler) getJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !jobs.ValidID(id) {
		// A malformed id cannot name a job; answer as for a missing one.
		h.writeError(w, r, jobs.ErrNotFound)
		return
	}
	requestInfoFrom(r.Context()).jobID = id
	owner := ownerFrom(r.Context())
	now := h.cfg.Now()
	if match := r.Header.Get("If-None-Match"); match != "" {
		// A poller that has the job as it ended is answered from the job
		// item alone: no read of its prompt or its text, however long.
		head, err := h.deps.Store.Head(r.Context(), owner, id)
		if err != nil {
			h.writeError(w, r, fmt.Errorf("get job: %w", err))
			return
		}
		if tag := etagOf(head, now); tag != "" && etagMatches(match, tag) {
			w.Header().Set("ETag", tag)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	job, err := h.deps.Store.Get(r.Context(), owner, id)
	if err != nil {
		h.writeError(w, r, fmt.Errorf("get job: %w", err))
		return
	}
	if tag := etagOf(job, now); tag != "" {
		w.Header().Set("ETag", tag)
	}
	if h.deps.Watch != nil && job.NeedsWatchMark(now) {
		// Someone is watching this bulk job: its worker should write the
		// text as it comes. A failed mark costs only freshness.
		if err := h.deps.Watch.Watch(r.Context(), job.Owner, job.ID, now.Add(jobs.WatchFor)); err != nil {
			h.cfg.Logger.WarnContext(r.Context(), "could not mark the job watched", "job_id", job.ID, "error", err)
		}
	}
	if d := h.pollAfter(job, now); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d/time.Second)))
	}
	writeJSON(w, http.StatusOK, h.viewOf(job, now))
}

// etagOf is the ETag of a job that has ended and changes no more, from
// what its item alone holds (so Head and Get give the same); "" for one
// that may still change: queued, running, or ended with a charge that
// may still grow (jobs.Job.ChargeMayGrow: cancelled inside an economy run,
// or while a worker ran it). A weak tag: it names the job's state, not
// the bytes of one encoding of it. An operator's replay or a settlement
// moves updated_at, and with it the tag.
func etagOf(j jobs.Job, now time.Time) string {
	if !j.Status.Terminal() || j.ChargeMayGrow(now) {
		return ""
	}
	return fmt.Sprintf(`W/"%s-%s-%d-%d"`, j.ID[len(j.ID)-12:], j.Status, j.UpdatedAt.UnixMilli(), j.Attempts)
}

// etagMatches is If-None-Match's weak comparison of header with tag
// (RFC 9110, 13.1.2): "*", or any listed tag with the same opaque value.
func etagMatches(header, tag string) bool {
	if strings.TrimSpace(header) == "*" {
		return true
	}
	want := strings.TrimPrefix(tag, "W/")
	for _, t := range strings.Split(header, ",") {
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == want {
			return true
		}
	}
	return false
}

// pollAfter is when polling a job again makes sense; 0 for an ended job
// whose charge is final. A queued job that its lane put off is worth
// polling again when its message comes back (jobs.Job.SentAt, then to
// come), up to maxPollAfter; a job cancelled while a worker ran it, once
// the worker has charged its call, about as often as a running one; one
// cancelled inside an economy run, when its run may have ended.
func (h *Handler) pollAfter(j jobs.Job, now time.Time) time.Duration {
	switch {
	case j.Status == jobs.StatusQueued:
		wait := j.SentAt.Sub(now).Round(time.Second)
		return min(max(h.cfg.PollQueued, wait), maxPollAfter)
	case j.Status == jobs.StatusRunning:
		return h.cfg.PollRunning
	case j.ChargePending():
		return maxPollAfter
	case j.ChargeMayGrow(now):
		return h.cfg.PollRunning
	}
	return 0
}

// maxPollAfter bounds a queued job's Retry-After: a job put off for
// minutes (a long throttle) is still looked at now and then, since its
// owner may cancel it or an operator replay it.
const maxPollAfter = time.Minute

type listView struct {
	Jobs       []jobView `json:"jobs"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// listJobs is GET /jobs?limit=&cursor=&q=: with q, the jobs whose
// prompts or answers hold every word of it (jobs.SearchWords).
func (h *Handler) listJobs(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r.URL.RawQuery)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	limit := 20
	if s, ok := q["limit"]; ok {
		n, err := strconv.Atoi(s[0])
		if err != nil || n < 1 || n > 100 || len(s) > 1 {
			h.writeError(w, r, jobs.Invalid("limit", "limit must be an integer from 1 to 100, given once."))
			return
		}
		limit = n
	}
	cursor := ""
	if s, ok := q["cursor"]; ok {
		if len(s) > 1 || len(s[0]) > 512 {
			h.writeError(w, r, jobs.Invalid("cursor", "cursor is not one this API returned; give the next_cursor of the previous page, once."))
			return
		}
		cursor = s[0]
	}
	var page jobs.Page
	if s, ok := q["q"]; ok {
		if len(s) > 1 {
			h.writeError(w, r, jobs.Invalid("q", "Give q once: the words to look for, separated by spaces."))
			return
		}
		words, werr := jobs.SearchWords(s[0])
		if werr != nil {
			h.writeError(w, r, werr)
			return
		}
		page, err = h.deps.Store.Search(r.Context(), ownerFrom(r.Context()), words, limit, cursor)
	} else {
		page, err = h.deps.Store.List(r.Context(), ownerFrom(r.Context()), limit, cursor)
	}
	if err != nil {
		h.writeError(w, r, fmt.Errorf("list jobs: %w", err))
		return
	}
	out := listView{Jobs: make([]jobView, 0, len(page.Jobs)), NextCursor: page.NextCursor}
	for _, j := range page.Jobs {
		out.Jobs = append(out.Jobs, h.previewOf(j, h.cfg.Now()))
	}
	writeJSON(w, http.StatusOK, out)
}

// queryParams decodes a query string, refusing what url.Values would
// silently drop: a pair whose percent-encoding is broken (cursor=%%%x)
// is a 400 naming its parameter, not a parameter left out, which would
// answer a different question (the first page) as if it were the one
// asked.
func queryParams(raw string) (url.Values, error) {
	q := url.Values{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, jobs.Invalid("query", "The query string is not valid URL encoding: encode a %% as %%25, and separate parameters with &.")
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, jobs.Invalid(key, "%s is not valid URL encoding: a %% must start an escape such as %%2F (encode a %% itself as %%25).", key)
		}
		q[key] = append(q[key], value)
	}
	return q, nil
}

// cancelJob is POST /jobs/{id}/cancel.
func (h *Handler) cancelJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !jobs.ValidID(id) {
		h.writeError(w, r, jobs.ErrNotFound)
		return
	}
	requestInfoFrom(r.Context()).jobID = id
	job, err := h.deps.Store.Cancel(r.Context(), ownerFrom(r.Context()), id)
	switch {
	case errors.Is(err, jobs.ErrConflict):
		h.writeError(w, r, &jobs.Error{Kind: jobs.KindConflict, Field: "status",
			Message: "The job has already finished, so it cannot be cancelled."})
		return
	case err != nil:
		h.writeError(w, r, fmt.Errorf("cancel job: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, h.viewOf(job, h.cfg.Now()))
}
