package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/promptq/promptq/internal/apiclient"
)

// Route names, as the latencies are kept.
const (
	RouteGenerate = "POST /generate"
	RouteList     = "GET /jobs"
	RouteGet      = "GET /jobs/{id}"
)

// Client calls the API as a user's program would (apiclient, the product's
// own client), timing every call.
type Client struct {
	API       apiclient.Client
	Latencies *Latencies
}

// NewClient returns a client of the API at baseURL with enough idle
// connections for conns calls at once.
func NewClient(baseURL string, conns int) *Client {
	return &Client{
		API: apiclient.Client{BaseURL: baseURL, HTTP: &http.Client{
			Timeout: 35 * time.Second, // past API Gateway's 29 s
			Transport: &http.Transport{
				MaxIdleConns:        conns,
				MaxIdleConnsPerHost: conns,
				IdleConnTimeout:     30 * time.Second,
			},
		}},
		Latencies: NewLatencies(),
	}
}

// Response is an API answer.
type Response = apiclient.Response

// do sends one request and records its latency under route. A transport
// error is recorded with status 0 and returned.
func (c *Client) do(ctx context.Context, route, method, path, token string, header map[string]string, body []byte) (Response, error) {
	start := time.Now()
	res, err := c.API.Do(ctx, method, path, token, header, body)
	if err != nil {
		c.Latencies.Add(route, 0, time.Since(start))
		return Response{}, fmt.Errorf("%s: %w", route, err)
	}
	c.Latencies.Add(route, res.Status, time.Since(start))
	return res, nil
}

// GenerateRequest is the body of POST /generate.
type GenerateRequest struct {
	Prompt    string `json:"prompt"`
	MaxTokens int    `json:"max_tokens,omitempty"`
	Lane      string `json:"lane,omitempty"` // "" is the API's default, interactive
}

// Accepted is the 202 of POST /generate.
type Accepted struct {
	JobID  string `json:"job_id"`
	Status string `json:"status"`
}

// Generate is POST /generate with an Idempotency-Key.
func (c *Client) Generate(ctx context.Context, token, key string, req GenerateRequest) (Response, Accepted, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Response{}, Accepted{}, err
	}
	res, err := c.do(ctx, RouteGenerate, http.MethodPost, "/generate", token, map[string]string{"Idempotency-Key": key}, body)
	var a Accepted
	if err == nil && res.Status == http.StatusAccepted {
		if err := json.Unmarshal(res.Body, &a); err != nil {
			return res, a, fmt.Errorf("%s: decode 202: %w", RouteGenerate, err)
		}
	}
	return res, a, err
}

// JobView is the part of a job the harness reads.
type JobView struct {
	JobID    string `json:"job_id"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	// GeneratedText: the whole text from GET /jobs/{id}, a preview in a
	// listing. Tokens and Continuations (the calls that went on from text
	// an earlier call wrote): GET /jobs/{id} only.
	GeneratedText string `json:"generated_text"`
	Tokens        struct {
		Input  int `json:"input"`
		Output int `json:"output"`
	} `json:"tokens"`
	Continuations int `json:"continuations"`
	// TextDueInMS: when a running job's worker next writes its text.
	TextDueInMS *int64 `json:"text_due_in_ms"`
}

// List is GET /jobs?limit=100, following next_cursor until stop says
// enough (it sees each page's jobs) or there are no more pages.
func (c *Client) List(ctx context.Context, token string, stop func([]JobView) bool) error {
	cursor := ""
	for range 1000 { // a bound, far above any page count here
		path := "/jobs?limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		res, err := c.do(ctx, RouteList, http.MethodGet, path, token, nil, nil)
		if err != nil {
			return err
		}
		if res.Status != http.StatusOK {
			return fmt.Errorf("%s: status %d: %s", RouteList, res.Status, res.Body)
		}
		var page struct {
			Jobs       []JobView `json:"jobs"`
			NextCursor string    `json:"next_cursor"`
		}
		if err := json.Unmarshal(res.Body, &page); err != nil {
			return fmt.Errorf("%s: decode: %w", RouteList, err)
		}
		if stop(page.Jobs) || page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
	return fmt.Errorf("%s: too many pages", RouteList)
}

// Get is GET /jobs/{id}.
func (c *Client) Get(ctx context.Context, token, id string) (Response, JobView, error) {
	res, err := c.do(ctx, RouteGet, http.MethodGet, "/jobs/"+id, token, nil, nil)
	var j JobView
	if err == nil && res.Status == http.StatusOK {
		if err := json.Unmarshal(res.Body, &j); err != nil {
			return res, j, fmt.Errorf("%s: decode: %w", RouteGet, err)
		}
	}
	return res, j, err
}

// RouteBatch is POST /generate/batch.
const RouteBatch = "POST /generate/batch"

// BatchEntry is one request of POST /generate/batch.
type BatchEntry struct {
	Prompt         string `json:"prompt"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	MaxTokens      int    `json:"max_tokens,omitempty"`
}

// BatchResult is one result of POST /generate/batch.
type BatchResult struct {
	JobID    string          `json:"job_id"`
	Status   string          `json:"status"`
	Replayed bool            `json:"idempotent_replayed"`
	Error    json.RawMessage `json:"error"`
}

// GenerateBatch is POST /generate/batch.
func (c *Client) GenerateBatch(ctx context.Context, token string, entries []BatchEntry) (Response, []BatchResult, error) {
	return c.GenerateBatchOn(ctx, token, "", entries)
}

// GenerateBatchOn is GenerateBatch on lane ("": the API's default, bulk).
func (c *Client) GenerateBatchOn(ctx context.Context, token, lane string, entries []BatchEntry) (Response, []BatchResult, error) {
	env := map[string]any{"requests": entries}
	if lane != "" {
		env["lane"] = lane
	}
	body, err := json.Marshal(env)
	if err != nil {
		return Response{}, nil, err
	}
	res, err := c.do(ctx, RouteBatch, http.MethodPost, "/generate/batch", token, nil, body)
	if err != nil || res.Status != http.StatusAccepted {
		return res, nil, err
	}
	var out struct {
		Results []BatchResult `json:"results"`
	}
	if err := json.Unmarshal(res.Body, &out); err != nil {
		return res, nil, fmt.Errorf("%s: decode 202: %w", RouteBatch, err)
	}
	return res, out.Results, nil
}
