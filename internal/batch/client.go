package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promptq/promptq/internal/apiclient"
	"github.com/promptq/promptq/internal/jobs"
)

// tokenSource gives the access token for the API's Authorization header.
type tokenSource interface {
	Token(ctx context.Context) (string, error)
	// Refresh is called when the API refused stale: it gets a new token,
	// unless another caller already has, or returns why it cannot.
	Refresh(ctx context.Context, stale string) error
}

// Errors that end a run early. The state is kept; re-running resumes.
var (
	// ErrStopped: the run was asked to stop (Ctrl-C) before this request
	// could be (re)tried.
	ErrStopped = errors.New("stopped")
	// ErrBudget: the run's retry budget is spent; the API or the network
	// kept failing.
	ErrBudget = errors.New("retry budget exhausted")
	// ErrUnauthorized: the API refused the token even after a refresh.
	ErrUnauthorized = errors.New("the API refused the credentials")
	// errGaveUp: one call failed MaxAttempts times (429, 5xx, network);
	// the lines it carried stay unsent and a re-run sends them.
	errGaveUp = errors.New("gave up")
)

// APIError is an answer of the API that no retry will change (a 4xx other
// than 401 and 429, or a 5xx after the last attempt).
type APIError = apiclient.Error

// retryPolicy bounds the retries of every call and of the whole run.
type retryPolicy struct {
	MaxAttempts int           // per call, the first one included
	BaseDelay   time.Duration // first backoff; doubles each attempt
	MaxDelay    time.Duration // cap of a computed backoff (not of Retry-After)
	// budget is how many retries the whole run may still make; shared by
	// every call so a failing API ends the run instead of looping.
	budget atomic.Int64
}

// client calls promptq's API with the access token, retrying what a retry
// can fix: 429 and 5xx answers (after their Retry-After, or a jittered
// exponential backoff) and network errors. A 401 refreshes the token once.
//
// Retrying a POST is safe because every batch entry carries an
// idempotency key: an entry the API already stored answers with its
// original job.
type client struct {
	api    *apiclient.Client
	auth   tokenSource
	policy *retryPolicy
	// stop ends retries and backoff sleeps, but not a request in flight:
	// requests run on a context without its cancellation (bounded by the
	// HTTP client's timeout), so their answers are recorded.
	stop  context.Context
	sleep func(ctx context.Context, d time.Duration) error
	calls atomic.Int64 // HTTP requests sent to the API, retries included
	// retries counts the retries made; the run reports it.
	retries atomic.Int64

	gateMu sync.Mutex
	gate   time.Time // no call starts before this (after a 429)

	// lane is the batch envelope's lane fields, with a trailing comma, or
	// "" for the API's default (bulk).
	lane string
}

// envelopeLane is a batch envelope's lane fields for the chosen lane.
func envelopeLane(economy, fallback bool) string {
	switch {
	case economy && fallback:
		return `"lane":"economy","economy_fallback":true,`
	case economy:
		return `"lane":"economy",`
	}
	return ""
}

// response is a 2xx answer.
type response = apiclient.Response

// do sends one API call and retries it as the policy allows.
func (c *client) do(method, path string, body []byte) (response, error) {
	ctx := context.WithoutCancel(c.stop)
	refreshed := false
	for attempt := 1; ; attempt++ {
		if err := c.waitGate(); err != nil {
			return response{}, ErrStopped
		}
		token, err := c.auth.Token(ctx)
		if err != nil {
			return response{}, err
		}
		res, err := c.send(ctx, method, path, body, token)
		var delay time.Duration
		switch {
		case err != nil:
			// A network error or timeout: the request may or may not have
			// arrived; the idempotency keys make sending it again safe.
			delay = c.backoff(attempt)
		case res.Status >= 200 && res.Status < 300:
			return res, nil
		case res.Status == http.StatusUnauthorized:
			if refreshed {
				return response{}, c.refused(res.Err())
			}
			refreshed = true
			if err := c.auth.Refresh(ctx, token); err != nil {
				return response{}, c.refused(fmt.Errorf("%w (%w)", res.Err(), err))
			}
			attempt-- // a refresh is not a failed attempt
			continue
		case retryable(res.Status):
			err = res.Err()
			ra, ok := res.RetryAfter()
			switch {
			case ok && ra > maxRetryAfter:
				// A limit that resets in hours (a daily token budget):
				// waiting here would only hold the run hostage.
				return response{}, err
			case ok && res.Status == http.StatusTooManyRequests:
				// The API said when: every call waits that long, and a
				// per-user limit is not a failure of this call, so only
				// the run's budget counts it.
				c.closeGate(ra + jitter(ra)) // waitGate does the waiting
				attempt--
			case ok:
				delay = ra + jitter(ra)
			default:
				delay = c.backoff(attempt)
			}
		default:
			return response{}, res.Err()
		}
		if attempt >= c.policy.MaxAttempts {
			return response{}, fmt.Errorf("%s %s: %w after %d attempts: %w", method, path, errGaveUp, attempt, err)
		}
		if c.policy.budget.Add(-1) < 0 {
			return response{}, fmt.Errorf("%w (last error: %w)", ErrBudget, err)
		}
		c.retries.Add(1)
		if err := c.sleep(c.stop, delay); err != nil {
			return response{}, ErrStopped
		}
	}
}

// refused is the error for a token the API refused and no refresh could
// replace: ErrUnauthorized, carrying a *CredentialsError that says what
// to set.
func (c *client) refused(err error) error {
	fix := fixToken
	if h, ok := c.auth.(credentialsHint); ok {
		fix = h.fix()
	}
	return fmt.Errorf("%w: %w", ErrUnauthorized, &CredentialsError{Reason: "the API refused the access token", Fix: fix, Err: err})
}

// closeGate holds every call of the run back for d: when the API says
// "too many requests", the other calls in flight would hear the same.
func (c *client) closeGate(d time.Duration) {
	c.gateMu.Lock()
	defer c.gateMu.Unlock()
	if until := time.Now().Add(d); until.After(c.gate) {
		c.gate = until
	}
}

// waitGate waits until the gate is open, or the run stops.
func (c *client) waitGate() error {
	if c.stop.Err() != nil {
		return c.stop.Err()
	}
	c.gateMu.Lock()
	d := time.Until(c.gate)
	c.gateMu.Unlock()
	if d <= 0 {
		return nil
	}
	return c.sleep(c.stop, d)
}

func (c *client) send(ctx context.Context, method, path string, body []byte, token string) (response, error) {
	c.calls.Add(1)
	return c.api.Do(ctx, method, path, token, nil, body)
}

func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff is the wait before attempt+1: exponential from BaseDelay, capped
// at MaxDelay, with "equal jitter" (half fixed, half random) so many
// clients that failed together do not retry together.
func (c *client) backoff(attempt int) time.Duration {
	d := c.policy.BaseDelay << min(attempt-1, 20)
	if d <= 0 || d > c.policy.MaxDelay {
		d = c.policy.MaxDelay
	}
	return d/2 + rand.N(d/2+1)
}

// jitter adds up to a fifth of d (at least up to 100 ms), so clients told
// the same Retry-After spread out.
func jitter(d time.Duration) time.Duration {
	return rand.N(max(d/5, 100*time.Millisecond))
}

// maxRetryAfter is the longest Retry-After the run waits out; a longer
// one (a daily limit) ends the run with the API's message.
const maxRetryAfter = 5 * time.Minute

// sleepCtx waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batchResult is one entry of POST /generate/batch's answer.
type batchResult struct {
	JobID    string     `json:"job_id"`
	Status   string     `json:"status"`
	Replayed bool       `json:"idempotent_replayed"`
	Error    *ErrorInfo `json:"error"`
}

// submitBatch sends entries (each a JSON object) in one call.
func (c *client) submitBatch(entries [][]byte) ([]batchResult, error) {
	var body bytes.Buffer
	body.WriteString(`{` + c.lane + `"requests":[`)
	for i, e := range entries {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(e)
	}
	body.WriteString(`]}`)
	res, err := c.do(http.MethodPost, "/generate/batch", body.Bytes())
	if err != nil {
		return nil, err
	}
	var v struct {
		Results []batchResult `json:"results"`
	}
	if err := json.Unmarshal(res.Body, &v); err != nil {
		return nil, fmt.Errorf("POST /generate/batch: the answer is not JSON: %w", err)
	}
	if len(v.Results) != len(entries) {
		return nil, fmt.Errorf("POST /generate/batch: %d results for %d requests", len(v.Results), len(entries))
	}
	return v.Results, nil
}

// jobView is the part of the API's Job the results need.
type jobView struct {
	JobID         string          `json:"job_id"`
	Status        string          `json:"status"`
	GeneratedText string          `json:"generated_text"`
	GeneratedJSON json.RawMessage `json:"generated_json"` // GET /jobs/{id}'s; listings leave it out
	Tokens        jobs.Tokens     `json:"tokens"`
	Error         *jobs.Failure   `json:"error"`
	Truncated     bool            `json:"truncated"`
	StopReason    string          `json:"stop_reason"`
	Model         string          `json:"model"`
}

// getJob is GET /jobs/{id}, with the answer's Retry-After (0 if none).
func (c *client) getJob(id string) (jobView, time.Duration, error) {
	res, err := c.do(http.MethodGet, "/jobs/"+url.PathEscape(id), nil)
	if err != nil {
		return jobView{}, 0, err
	}
	var v jobView
	if err := json.Unmarshal(res.Body, &v); err != nil {
		return jobView{}, 0, fmt.Errorf("GET /jobs/%s: the answer is not JSON: %w", id, err)
	}
	ra, _ := res.RetryAfter()
	return v, ra, nil
}

// listJobs is one page of GET /jobs, newest first.
func (c *client) listJobs(cursor string) ([]jobView, string, error) {
	q := url.Values{"limit": {"100"}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	res, err := c.do(http.MethodGet, "/jobs?"+q.Encode(), nil)
	if err != nil {
		return nil, "", err
	}
	var v struct {
		Jobs       []jobView `json:"jobs"`
		NextCursor string    `json:"next_cursor"`
	}
	if err := json.Unmarshal(res.Body, &v); err != nil {
		return nil, "", fmt.Errorf("GET /jobs: the answer is not JSON: %w", err)
	}
	return v.Jobs, v.NextCursor, nil
}
