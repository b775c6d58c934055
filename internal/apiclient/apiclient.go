// Package apiclient is the one Go client of promptq's HTTP API, at the
// level every caller shares: one call with a bearer token, its answer read
// whole, and the API's error shape and Retry-After decoded. The batch tool
// adds its retry policy on top (internal/batch); the load harness times
// each call (internal/measure/loadtest); make smoke checks the answers
// (internal/smoke).
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds an answer read: a job's text can be large, never this.
const maxBody = 64 << 20

// Client calls the API at BaseURL (no trailing slash) with HTTP
// (http.DefaultClient if nil).
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// Response is an answer of the API, whatever its status.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one call: method and path (with its query) under BaseURL, the
// access token as a bearer token ("": no Authorization header), header's
// fields, and body as JSON (nil: none). An error is a call that got no answer: it may or may not have
// reached the API.
func (c *Client) Do(ctx context.Context, method, path, token string, header map[string]string, body []byte) (Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: build request: %w", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// OK reports a 2xx answer.
func (r Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// RetryAfter is the answer's Retry-After (seconds, or an HTTP date), and
// whether it had a valid one.
func (r Response) RetryAfter() (time.Duration, bool) {
	v := strings.TrimSpace(r.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// Error is an answer of the API that is not a success: its status and what
// the API's error shape says.
type Error struct {
	Status    int
	Code      string
	Message   string
	Field     string
	RequestID string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("API answered %d %s: %s", e.Status, e.Code, e.Message)
	if e.RequestID != "" {
		msg += " (request id " + e.RequestID + ")"
	}
	return msg
}

// Err reads the API's error shape from the answer, or describes a body
// that is not it (a proxy's HTML page).
func (r Response) Err() *Error {
	var body struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			Field     string `json:"field"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	e := &Error{Status: r.Status}
	if json.Unmarshal(r.Body, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message, e.Field, e.RequestID = body.Error.Code, body.Error.Message, body.Error.Field, body.Error.RequestID
		return e
	}
	e.Code = strings.ToLower(strings.ReplaceAll(http.StatusText(r.Status), " ", "_"))
	e.Message = "the answer was not the API's error shape"
	return e
}
