package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/promptq/promptq/internal/jobs"
)

type ownerKey struct{}

// ownerFrom returns the verified caller id that authed put in the context.
func ownerFrom(ctx context.Context) string {
	owner, _ := ctx.Value(ownerKey{}).(string)
	return owner
}

// authed verifies the bearer token before next runs. spends marks the
// routes that can cost money (they create jobs): only those pay for the
// revocation round trip to Cognito, so polling stays local and cheap.
func (h *Handler) authed(next http.HandlerFunc, spends bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, err := bearerToken(r.Header.Get("Authorization"))
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		owner, err := h.deps.Auth.Authenticate(r.Context(), token)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if owner == "" {
			h.writeError(w, r, &jobs.Error{Kind: jobs.KindUnauthorized, Message: "The access token names no user."})
			return
		}
		requestInfoFrom(r.Context()).user = owner
		if !spends && h.reads != nil {
			// Reads are held to the user's rate in this instance's memory:
			// no table write per poll.
			if err := h.reads.allow(owner, h.cfg.Now()); err != nil {
				h.writeError(w, r, err)
				return
			}
		}
		if spends && h.deps.Requests != nil {
			// Each user's own rate of requests that create jobs, counted
			// exactly across instances, so one busy client (a script in a
			// loop) is refused without slowing anyone else. A counter
			// that can't be written lets the request through: the stage
			// throttle still bounds everyone together, and the budgets
			// and submissions a minute still hold.
			if err := h.deps.Requests.AllowRequest(r.Context(), owner); jobs.KindOf(err) == jobs.KindRateLimited {
				h.writeError(w, r, err)
				return
			} else if err != nil {
				h.cfg.Logger.WarnContext(r.Context(), "request rate not counted; request allowed",
					slog.String("request_id", requestInfoFrom(r.Context()).id), slog.String("user", owner), slog.String("error", err.Error()))
			}
		}
		if spends && h.deps.Revoke != nil {
			if err := h.deps.Revoke.Check(r.Context(), token); err != nil {
				h.writeError(w, r, err)
				return
			}
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ownerKey{}, owner)))
	})
}
