package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

type acceptedView struct {
	JobID     string      `json:"job_id"`
	Status    jobs.Status `json:"status"`
	Lane      jobs.Lane   `json:"lane"`
	CreatedAt string      `json:"created_at"`
}

// generate is POST /generate: decode, submit one job, answer 202.
func (h *Handler) generate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()

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
	if err == nil && req.ContinuesJob != "" {
		req, err = h.continuation(r, req)
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	results, err := h.deps.Submit.Submit(ctx, ownerFrom(ctx), []submit.Entry{{Request: req, IdempotencyKey: idemKey}})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	res := results[0]
	if res.Err != nil {
		h.writeError(w, r, fmt.Errorf("submit: %w", res.Err))
		return
	}
	requestInfoFrom(ctx).jobID = res.Job.ID
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/jobs/"+res.Job.ID)
	writeJSON(w, http.StatusAccepted, acceptedView{JobID: res.Job.ID, Status: res.Job.Status, Lane: res.Job.Lane, CreatedAt: timestamp(res.Job.CreatedAt)})
}

// continuation is the request of a new job going on with the answer of
// the caller's job req names ("continue": jobs.Job.ContinueRequest), with
// req's max_tokens and lane.
func (h *Handler) continuation(r *http.Request, req jobs.Request) (jobs.Request, error) {
	j, err := h.deps.Store.Get(r.Context(), ownerFrom(r.Context()), req.ContinuesJob)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return req, &jobs.Error{Kind: jobs.KindNotFound, Field: "continue", Message: "There is no job of yours with the id given in continue."}
	case err != nil:
		return req, fmt.Errorf("read the job to continue: %w", err)
	}
	return j.ContinueRequest(req.MaxTokens, req.Lane, h.cfg.Limits)
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
