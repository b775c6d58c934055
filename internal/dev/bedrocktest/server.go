// Package bedrocktest is a fake Amazon Bedrock runtime endpoint for tests.
// It speaks the wire formats the real bedrockruntime client expects:
// Converse answers in JSON, ConverseStream in the AWS event-stream binary
// encoding (events and exception frames), errors as REST-JSON error
// responses with X-Amzn-ErrorType. Point a real client at Server.URL (see
// [Server.Client]) and every byte goes through the SDK's marshalling,
// signing, retries and error deserialization.
//
// A test scripts the answers with a [Handler], which sees the decoded
// request and writes a response with the [Response] methods.
package bedrocktest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
)

// Request is a Converse or ConverseStream request as the server received it.
type Request struct {
	ModelID     string
	Stream      bool // ConverseStream
	Prompt      string
	System      string
	MaxTokens   *int
	Temperature *float64
	Header      http.Header
	Body        []byte // the raw JSON body
	// Call counts the requests this server has received, starting at 1, so
	// a handler can answer the first call differently from a retry.
	Call int
}

// Handler answers one request.
type Handler func(w *Response, r *Request)

// Server is a running fake Bedrock endpoint.
type Server struct {
	URL string

	t       testing.TB
	handler Handler
	mu      sync.Mutex
	calls   int
}

// NewServer starts a fake endpoint on 127.0.0.1 for t; it stops when t ends.
func NewServer(t testing.TB, h Handler) *Server {
	t.Helper()
	s := &Server{t: t, handler: h}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /model/{model}/converse", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, false) })
	mux.HandleFunc("POST /model/{model}/converse-stream", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, true) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Calls returns how many requests the server has received.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Client returns a real bedrockruntime client for the server; see
// [NewClient].
func (s *Server) Client(maxAttempts int) *bedrockruntime.Client {
	return NewClient(s.URL, maxAttempts)
}

// NewClient returns a real bedrockruntime client for the endpoint at url,
// with dummy credentials and at most maxAttempts attempts per call (the
// SDK's retries); retries wait no time, so tests stay fast.
//
// Its HTTP transport reads each request body into memory before sending it.
// smithy-go closes the request body as soon as the response headers arrive;
// over loopback a streamed answer can start before net/http's write loop has
// taken its last read from the body, which then fails and makes net/http
// close the connection mid-stream ("use of closed network connection", about
// one run in a few hundred). Across a real network the request is long
// written by then.
func NewClient(url string, maxAttempts int) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		HTTPClient:   &http.Client{Transport: bufferedBody{http.DefaultTransport.(*http.Transport).Clone()}},
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(url),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.Backoff = noBackoff{}
			o.RateLimiter = noRateLimit{}
		}),
	})
}

// bufferedBody is a RoundTripper that sends a copy of the request body, so
// the SDK closing its own body cannot break the transport's write.
type bufferedBody struct{ next http.RoundTripper }

func (b bufferedBody) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		data, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(data))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	}
	return b.next.RoundTrip(req)
}

type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

type noRateLimit struct{}

func (noRateLimit) GetToken(context.Context, uint) (func() error, error) {
	return func() error { return nil }, nil
}
func (noRateLimit) AddTokens(uint) error { return nil }

// wireRequest is the JSON body of Converse and ConverseStream requests.
type wireRequest struct {
	Messages []struct {
		Role    string `json:"role"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	} `json:"messages"`
	System []struct {
		Text string `json:"text"`
	} `json:"system"`
	InferenceConfig *struct {
		MaxTokens   *int     `json:"maxTokens"`
		Temperature *float64 `json:"temperature"`
	} `json:"inferenceConfig"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, stream bool) {
	s.mu.Lock()
	s.calls++
	call := s.calls
	s.mu.Unlock()

	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.t.Errorf("bedrocktest: read request: %v", err)
		return
	}
	var wire wireRequest
	if err := json.Unmarshal(body, &wire); err != nil {
		s.t.Errorf("bedrocktest: request body is not JSON: %v\n%s", err, body)
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	req := &Request{ModelID: r.PathValue("model"), Stream: stream, Header: r.Header.Clone(), Body: body, Call: call}
	for _, m := range wire.Messages {
		if m.Role != "user" {
			continue
		}
		for _, c := range m.Content {
			req.Prompt += c.Text
		}
	}
	for _, sys := range wire.System {
		req.System += sys.Text
	}
	if ic := wire.InferenceConfig; ic != nil {
		req.MaxTokens, req.Temperature = ic.MaxTokens, ic.Temperature
	}
	s.handler(&Response{t: s.t, w: w, r: r, stream: stream, enc: eventstream.NewEncoder()}, req)
}

// Response writes one answer. Methods report write failures with t.Errorf
// unless the client has gone away.
type Response struct {
	t       testing.TB
	w       http.ResponseWriter
	r       *http.Request
	stream  bool
	enc     *eventstream.Encoder
	started bool
}

// Context is done when the client goes away.
func (w *Response) Context() context.Context { return w.r.Context() }

// Error answers with an HTTP error as Bedrock sends it: status, the error
// type in X-Amzn-ErrorType, and {"message": ...}.
func (w *Response) Error(status int, errorType, message string) {
	w.w.Header().Set("Content-Type", "application/json")
	w.w.Header().Set("X-Amzn-ErrorType", errorType)
	w.w.WriteHeader(status)
	_ = json.NewEncoder(w.w).Encode(map[string]string{"message": message})
}

// Answer sends a complete answer: for Converse one JSON document, for
// ConverseStream messageStart, one contentBlockDelta per piece,
// contentBlockStop, messageStop and metadata.
func (w *Response) Answer(pieces []string, stopReason string, inputTokens, outputTokens int) {
	if !w.stream {
		w.w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w.w).Encode(map[string]any{
			"output": map[string]any{"message": map[string]any{
				"role":    "assistant",
				"content": []any{map[string]string{"text": strings.Join(pieces, "")}},
			}},
			"stopReason": stopReason,
			"usage":      usage(inputTokens, outputTokens),
			"metrics":    map[string]int{"latencyMs": 1},
		})
		return
	}
	w.Start()
	for _, p := range pieces {
		w.Delta(p)
	}
	w.Finish(stopReason, inputTokens, outputTokens)
}

// Start begins a ConverseStream answer: the HTTP headers and messageStart.
func (w *Response) Start() {
	w.w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.w.WriteHeader(http.StatusOK)
	w.started = true
	w.Event("messageStart", map[string]string{"role": "assistant"})
}

// Delta sends one contentBlockDelta with text, and flushes it to the client.
func (w *Response) Delta(text string) {
	w.Event("contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]string{"text": text}})
}

// Finish sends contentBlockStop, messageStop and metadata with usage.
func (w *Response) Finish(stopReason string, inputTokens, outputTokens int) {
	w.Event("contentBlockStop", map[string]any{"contentBlockIndex": 0})
	w.Event("messageStop", map[string]any{"stopReason": stopReason})
	w.Event("metadata", map[string]any{"usage": usage(inputTokens, outputTokens), "metrics": map[string]int{"latencyMs": 1}})
}

// Event writes one event frame (:message-type event) with a JSON payload.
func (w *Response) Event(eventType string, payload any) {
	b, err := json.Marshal(payload)
	if err != nil {
		w.t.Errorf("bedrocktest: marshal %s: %v", eventType, err)
		return
	}
	var msg eventstream.Message
	msg.Headers.Set(":event-type", eventstream.StringValue(eventType))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Headers.Set(":message-type", eventstream.StringValue("event"))
	msg.Payload = b
	w.frame(msg)
}

// Exception writes an exception frame (:message-type exception), as Bedrock
// does when a stream fails after it started; exceptionType is the member
// name, such as "throttlingException" or "modelStreamErrorException".
func (w *Response) Exception(exceptionType, message string) {
	if !w.started {
		w.Start()
	}
	b, _ := json.Marshal(map[string]string{"message": message})
	var msg eventstream.Message
	msg.Headers.Set(":exception-type", eventstream.StringValue(exceptionType))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
	msg.Payload = b
	w.frame(msg)
}

// Abort cuts the connection without finishing the response, like a network
// failure.
func (w *Response) Abort() {
	panic(http.ErrAbortHandler)
}

func (w *Response) frame(msg eventstream.Message) {
	var buf bytes.Buffer
	if err := w.enc.Encode(&buf, msg); err != nil {
		w.t.Errorf("bedrocktest: encode frame: %v", err)
		return
	}
	if _, err := w.w.Write(buf.Bytes()); err != nil {
		if w.r.Context().Err() == nil {
			w.t.Errorf("bedrocktest: write frame: %v", err)
		}
		return
	}
	if f, ok := w.w.(http.Flusher); ok {
		f.Flush()
	}
}

func usage(in, out int) map[string]int {
	return map[string]int{"inputTokens": in, "outputTokens": out, "totalTokens": in + out}
}
