package httpapi

import (
	"net/http"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

// batchResult is one entry of the answer: a job or an error, never both.
type batchResult struct {
	JobID    string       `json:"job_id,omitempty"`
	Status   jobs.Status  `json:"status,omitempty"`
	Replayed bool         `json:"idempotent_replayed,omitempty"`
	Error    *errorDetail `json:"error,omitempty"`
}

type batchView struct {
	Lane    jobs.Lane     `json:"lane"`
	Results []batchResult `json:"results"`
}

// generateBatch is POST /generate/batch: up to MaxBatchEntries requests in
// one call, on a lane jobs.RouteBatch allows (the bulk lane by default). Invalid entries are reported in place and the
// valid ones are still submitted; a malformed envelope is a 400 for the
// whole call.
func (h *Handler) generateBatch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if _, ok := r.Header["Idempotency-Key"]; ok {
		h.writeError(w, r, jobs.Invalid("Idempotency-Key", "A batch takes an idempotency_key in each request, not an Idempotency-Key header."))
		return
	}
	body, err := h.readBody(w, r, h.cfg.MaxBatchBytes)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	batch, err := jobs.DecodeBatch(body)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if batch.Lane == jobs.LaneEconomy && !h.cfg.Economy {
		h.writeError(w, r, jobs.Invalid("lane", `The economy lane is not enabled on this deployment; use "bulk".`))
		return
	}
	if n := len(batch.Requests); n == 0 || n > h.cfg.MaxBatchEntries {
		h.writeError(w, r, jobs.Invalid("requests", "requests must hold 1 to %d requests; it has %d.", h.cfg.MaxBatchEntries, n))
		return
	}

	results := make([]batchResult, len(batch.Requests))
	var entries []submit.Entry
	var slots []int // entries[i] answers results[slots[i]]
	for i, raw := range batch.Requests {
		req, key, err := batch.Entry(raw, h.cfg.Limits)
		if err != nil {
			_, d := errorFor(err)
			results[i].Error = &d
			continue
		}
		entries = append(entries, submit.Entry{Request: req, IdempotencyKey: key})
		slots = append(slots, i)
	}
	submitted, err := h.deps.Submit.Submit(ctx, ownerFrom(ctx), entries)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	for k, res := range submitted {
		slot := slots[k]
		if res.Err != nil {
			status, d := errorFor(res.Err)
			if status == http.StatusInternalServerError {
				h.cfg.Logger.ErrorContext(ctx, "batch entry failed", "request_id", requestInfoFrom(ctx).id, "error", res.Err.Error())
			}
			results[slot].Error = &d
			continue
		}
		results[slot] = batchResult{JobID: res.Job.ID, Status: res.Job.Status, Replayed: res.Replayed}
	}
	writeJSON(w, http.StatusAccepted, batchView{Lane: batch.Lane, Results: results})
}
