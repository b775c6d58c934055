package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

type batchRequest struct {
	Requests []json.RawMessage `json:"requests"`
	// Lane is the whole batch's: "bulk", the default, or "economy" (where
	// enabled). A batch never runs on the interactive lane, whose
	// capacity is kept for people waiting on one answer.
	Lane *string `json:"lane"`
	// EconomyFallback, for the economy lane only, runs a prompt Bedrock's
	// batch inference fails on the bulk lane instead of failing its job.
	EconomyFallback *bool `json:"economy_fallback"`
}

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
// one call, on the bulk lane. Invalid entries are reported in place and the
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
	var env batchRequest
	if err := jobs.DecodeStrict(body, &env); err != nil {
		h.writeError(w, r, err)
		return
	}
	lane := jobs.LaneBulk
	if env.Lane != nil {
		lane = jobs.Lane(*env.Lane)
	}
	switch {
	case lane == jobs.LaneEconomy && !h.cfg.Economy:
		h.writeError(w, r, jobs.Invalid("lane", `The economy lane is not enabled on this deployment; use "bulk".`))
		return
	case lane != jobs.LaneBulk && lane != jobs.LaneEconomy:
		h.writeError(w, r, jobs.Invalid("lane", `lane must be "bulk" or "economy" for a batch; send jobs for the interactive lane one by one to POST /generate.`))
		return
	case env.EconomyFallback != nil && lane != jobs.LaneEconomy:
		h.writeError(w, r, jobs.Invalid("economy_fallback", `economy_fallback applies to a batch on the economy lane only.`))
		return
	}
	fallback := env.EconomyFallback != nil && *env.EconomyFallback
	if n := len(env.Requests); n == 0 || n > h.cfg.MaxBatchEntries {
		h.writeError(w, r, jobs.Invalid("requests", "requests must hold 1 to %d requests; it has %d.", h.cfg.MaxBatchEntries, n))
		return
	}

	results := make([]batchResult, len(env.Requests))
	var entries []submit.Entry
	var slots []int // entries[i] answers results[slots[i]]
	for i, raw := range env.Requests {
		req, key, err := jobs.DecodeEntry(raw, h.cfg.Limits, lane)
		if err != nil {
			_, d := errorFor(err)
			results[i].Error = &d
			continue
		}
		req.EconomyFallback = fallback
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
	writeJSON(w, http.StatusAccepted, batchView{Lane: lane, Results: results})
}
