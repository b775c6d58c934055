package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/promptq/promptq/internal/jobs"
)

type batchRequest struct {
	Requests []json.RawMessage `json:"requests"`
}

// batchResult is one entry of the answer: a job or an error, never both.
type batchResult struct {
	JobID    string       `json:"job_id,omitempty"`
	Status   jobs.Status  `json:"status,omitempty"`
	Replayed bool         `json:"idempotent_replayed,omitempty"`
	Error    *errorDetail `json:"error,omitempty"`
}

type batchView struct {
	Results []batchResult `json:"results"`
}

// generateBatch is POST /generate/batch: up to MaxBatchEntries requests in
// one call. Invalid entries are reported in place and the valid ones are
// still queued; a malformed envelope is a 400 for the whole call.
func (h *Handler) generateBatch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	owner := ownerFrom(ctx)
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
	if n := len(env.Requests); n == 0 || n > h.cfg.MaxBatchEntries {
		h.writeError(w, r, jobs.Invalid("requests", "requests must hold 1 to %d requests; it has %d.", h.cfg.MaxBatchEntries, n))
		return
	}

	results := make([]batchResult, len(env.Requests))
	var pending []jobs.NewJob
	var slots []int // pending[i] answers results[slots[i]]
	budget := 0
	for i, raw := range env.Requests {
		req, key, err := jobs.DecodeEntry(raw, h.cfg.Limits)
		if err != nil {
			d := errorFor(err)
			results[i].Error = &d
			continue
		}
		pending = append(pending, jobs.NewJob{Job: h.newJob(owner, req, key), Fingerprint: req.Fingerprint(), Budget: req.TokenBudget()})
		slots = append(slots, i)
		budget += req.TokenBudget()
	}
	if len(pending) > 0 && h.deps.Limiter != nil {
		if err := h.deps.Limiter.Allow(ctx, owner, jobs.Cost{Jobs: len(pending), Tokens: budget}); err != nil {
			h.writeError(w, r, err)
			return
		}
	}

	created := h.createMany(ctx, pending)
	if h.deps.Limiter != nil {
		refund := 0
		for i, res := range created {
			if !res.Created {
				refund += pending[i].Budget
			}
		}
		if refund > 0 {
			h.deps.Limiter.Refund(ctx, owner, jobs.Cost{Tokens: refund})
		}
	}
	var toSend []jobs.Message
	var sendSlots []int
	for i, res := range created {
		slot := slots[i]
		if res.Err != nil {
			d := errorFor(res.Err)
			if d.Code == string(jobs.KindInternal) {
				h.cfg.Logger.ErrorContext(ctx, "batch entry failed", "request_id", requestInfoFrom(ctx).id, "error", res.Err.Error())
			}
			results[slot].Error = &d
			continue
		}
		results[slot] = batchResult{JobID: res.Job.ID, Status: res.Job.Status, Replayed: !res.Created}
		// A replayed job still queued is sent again, as in generate: its
		// first request may have died between the write and the send.
		if res.Created || res.Job.Status == jobs.StatusQueued {
			toSend = append(toSend, jobs.Message{JobID: res.Job.ID, Owner: owner})
			sendSlots = append(sendSlots, i)
		}
	}
	if len(toSend) > 0 {
		for k, err := range h.deps.Queue.SendBatch(ctx, toSend) {
			if err == nil {
				continue
			}
			i := sendSlots[k]
			if !created[i].Created {
				// A replay keeps its job; sending the entry again retries.
				d := errorFor(&jobs.Error{Kind: jobs.KindUnavailable, Message: "The job could not be queued just now. Please send the same request again."})
				results[slots[i]] = batchResult{Error: &d}
				continue
			}
			h.abandon(ctx, created[i].Job, err)
			d := errorFor(&jobs.Error{Kind: jobs.KindUnavailable, Message: "The job could not be queued and will not run. Please submit it again."})
			results[slots[i]] = batchResult{Error: &d}
		}
	}
	writeJSON(w, http.StatusAccepted, batchView{Results: results})
}

// createMany uses the store's bulk path when it has one.
func (h *Handler) createMany(ctx context.Context, items []jobs.NewJob) []jobs.CreateResult {
	if len(items) == 0 {
		return nil
	}
	if bs, ok := h.deps.Store.(batchStore); ok {
		return bs.CreateMany(ctx, items)
	}
	out := make([]jobs.CreateResult, len(items))
	for i, it := range items {
		job, created, err := h.deps.Store.Create(ctx, it.Job, it.Fingerprint)
		if err != nil {
			err = fmt.Errorf("create job: %w", err)
		}
		out[i] = jobs.CreateResult{Job: job, Created: created, Err: err}
	}
	return out
}
