package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/promptq/promptq/internal/jobs"
)

// kindMethodNotAllowed is an HTTP-only kind: the domain has no methods.
const kindMethodNotAllowed jobs.Kind = "method_not_allowed"

// wire is the one place a kind becomes HTTP: its status code and the
// snake_case code clients see in {"error": {"code": ...}}, which the API's
// contract (docs/openapi.yaml) fixes. The domain's kinds carry neither.
var wire = map[jobs.Kind]struct {
	status int
	code   string
}{
	jobs.KindInvalid:      {http.StatusBadRequest, "invalid_request"},
	jobs.KindUnauthorized: {http.StatusUnauthorized, "unauthorized"},
	jobs.KindNotFound:     {http.StatusNotFound, "not_found"},
	kindMethodNotAllowed:  {http.StatusMethodNotAllowed, "method_not_allowed"},
	jobs.KindConflict:     {http.StatusConflict, "conflict"},
	jobs.KindTooLarge:     {http.StatusRequestEntityTooLarge, "payload_too_large"},
	jobs.KindRateLimited:  {http.StatusTooManyRequests, "rate_limited"},
	jobs.KindUnavailable:  {http.StatusServiceUnavailable, "unavailable"},
	jobs.KindInternal:     {http.StatusInternalServerError, "internal"},
}

// wireOf is kind's status and code; an unknown kind is internal.
func wireOf(k jobs.Kind) (status int, code string) {
	w, ok := wire[k]
	if !ok {
		w = wire[jobs.KindInternal]
	}
	return w.status, w.code
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// writeError answers with the JSON error shape. Only *jobs.Error messages
// reach the client; anything else is logged and reported as internal.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	reqID := requestInfoFrom(r.Context()).id
	status, detail := errorFor(err)
	detail.RequestID = reqID

	if status >= 500 {
		// The cause goes to the log only; it may name tables, queues or
		// AWS error text that clients have no business seeing.
		h.cfg.Logger.ErrorContext(r.Context(), "request failed",
			slog.String("request_id", reqID), slog.String("error", err.Error()))
	}
	var de *jobs.Error
	if errors.As(err, &de) && de.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(de.RetryAfterSeconds))
	} else if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if status == http.StatusUnauthorized {
		// RFC 6750: a request with a token that failed gets invalid_token.
		if r.Header.Get("Authorization") != "" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		} else {
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
	}
	writeJSON(w, status, errorBody{Error: detail})
}

// errorFor is err's status and what a client may see of it: its code and
// the client-safe message.
func errorFor(err error) (int, errorDetail) {
	var de *jobs.Error
	if !errors.As(err, &de) || de.Kind == jobs.KindInternal || de.Kind == "" {
		status, code := wireOf(jobs.KindInternal)
		return status, errorDetail{Code: code, Message: "An internal error occurred. Please try again; if it keeps happening, report the request id."}
	}
	msg := de.Message
	if de.Kind == jobs.KindUnavailable && msg == "" {
		msg = "The service is busy. Please try again shortly."
	}
	status, code := wireOf(de.Kind)
	return status, errorDetail{Code: code, Message: msg, Field: de.Field}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	// No \u003c for "<" in messages such as "Bearer <access token>": the
	// body is JSON, never HTML, and people read it in terminals.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}
