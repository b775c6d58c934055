package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"github.com/promptq/promptq/internal/jobs"
)

type acceptedView struct {
	JobID     string      `json:"job_id"`
	Status    jobs.Status `json:"status"`
	CreatedAt string      `json:"created_at"`
}

// generate is POST /generate: validate, store, queue, answer 202.
func (h *Handler) generate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	owner := ownerFrom(ctx)

	// Validate the header before the body so a bad key costs nothing.
	key, hasKey := r.Header["Idempotency-Key"]
	idemKey := ""
	if hasKey {
		if len(key) != 1 {
			h.writeError(w, r, jobs.Invalid("Idempotency-Key", "Send one Idempotency-Key header, not %d.", len(key)))
			return
		}
		if err := jobs.ValidateIdempotencyKey(key[0]); err != nil {
			h.writeError(w, r, err)
			return
		}
		idemKey = key[0]
	}

	body, err := h.readBody(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	req, err := jobs.DecodeRequest(body, h.cfg.Limits)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if h.deps.Limiter != nil {
		if err := h.deps.Limiter.Allow(ctx, owner, jobs.Cost{Jobs: 1, Tokens: req.TokenBudget()}); err != nil {
			h.writeError(w, r, err)
			return
		}
	}

	job := h.newJob(owner, req, idemKey)
	stored, created, err := h.deps.Store.Create(ctx, job, req.Fingerprint())
	if !created && h.deps.Limiter != nil {
		h.deps.Limiter.Refund(ctx, owner, jobs.Cost{Tokens: req.TokenBudget()})
	}
	if err != nil {
		h.writeError(w, r, fmt.Errorf("create job: %w", err))
		return
	}
	requestInfoFrom(ctx).jobID = stored.ID
	if !created {
		// A retry of a request we already accepted: the same job. If it is
		// still queued, the first attempt may have stored it and then died
		// (or timed out) before its SendMessage; send again, since a
		// duplicate message is harmless (the worker's claim is conditional)
		// and a missing one would leave the job queued for good.
		if stored.Status == jobs.StatusQueued {
			if err := h.deps.Queue.Send(ctx, jobs.Message{JobID: stored.ID, Owner: owner}); err != nil {
				h.writeError(w, r, &jobs.Error{Kind: jobs.KindUnavailable,
					Message: "The job could not be queued just now. Please send the same request again.", Err: err})
				return
			}
		}
		w.Header().Set("Idempotent-Replayed", "true")
		h.writeAccepted(w, stored)
		return
	}

	if err := h.deps.Queue.Send(ctx, jobs.Message{JobID: stored.ID, Owner: owner}); err != nil {
		h.abandon(ctx, stored, err)
		h.writeError(w, r, &jobs.Error{Kind: jobs.KindUnavailable,
			Message: "The job could not be queued and will not run. Please submit it again.", Err: err})
		return
	}
	h.writeAccepted(w, stored)
}

// abandon marks a stored job that never reached the queue as failed, so it
// does not sit "queued" forever, and frees its idempotency key for a retry.
func (h *Handler) abandon(ctx context.Context, job jobs.Job, sendErr error) {
	h.cfg.Logger.ErrorContext(ctx, "queue send failed; abandoning job",
		slog.String("job_id", job.ID), slog.String("error", sendErr.Error()))
	f := jobs.Failure{Code: jobs.FailureEnqueue, Message: "The job could not be queued, so it never ran. Please submit it again."}
	if err := h.deps.Store.AbandonEnqueue(context.WithoutCancel(ctx), job.Owner, job.ID, f); err != nil {
		// Both AWS calls failed: the job stays queued with no message.
		// Logged at error so the alarm on API errors surfaces it.
		h.cfg.Logger.ErrorContext(ctx, "abandon job failed; job left queued without a message",
			slog.String("job_id", job.ID), slog.String("error", err.Error()))
	}
}

func (h *Handler) newJob(owner string, req jobs.Request, idemKey string) jobs.Job {
	now := h.cfg.Now().UTC()
	return jobs.Job{
		ID:             jobs.NewID(),
		Owner:          owner,
		Status:         jobs.StatusQueued,
		Prompt:         req.Prompt,
		System:         req.System,
		Model:          req.Model,
		MaxTokens:      req.MaxTokens,
		Temperature:    req.Temperature,
		IdempotencyKey: idemKey,
		CreatedAt:      now,
		UpdatedAt:      now,
		ExpiresAt:      now.Add(h.cfg.JobTTL),
	}
}

func (h *Handler) writeAccepted(w http.ResponseWriter, j jobs.Job) {
	w.Header().Set("Location", "/jobs/"+j.ID)
	writeJSON(w, http.StatusAccepted, acceptedView{JobID: j.ID, Status: j.Status, CreatedAt: timestamp(j.CreatedAt)})
}

// readBody reads a JSON body of at most limit bytes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, jobs.Invalid("Content-Type", "Content-Type must be application/json.")
		}
	}
	tooLarge := &jobs.Error{Kind: jobs.KindTooLarge, Field: "body",
		Message: fmt.Sprintf("The request body must be at most %d bytes.", limit)}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return nil, tooLarge
	case err != nil:
		return nil, jobs.Invalid("body", "The request body could not be read.")
	}
	return body, nil
}
