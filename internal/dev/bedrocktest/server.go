// Package bedrocktest is a fake Amazon Bedrock runtime endpoint for tests.
// It speaks the wire formats the real bedrockruntime client expects:
// Converse answers in JSON, ConverseStream in the AWS event-stream binary
// encoding (events and exception frames), errors as REST-JSON error
// responses with X-Amzn-ErrorType. Point a real client at Server.URL (see
// [Server.Client]) and every byte goes through the SDK's marshalling,
// signing, retries and error deserialization.
//
// A test scripts the answers with a [Handler], which sees the decoded
// request (every turn with its role, the inference and output settings,
// the additional model request fields) and writes a response with the
// [Response] methods: text, reasoning ([Response.Reasoning]), a refusal
// ([Response.Refuse]), errors and exceptions.
//
// # A model's rules
//
// [ModelRules] wraps a handler so the endpoint answers as the request's
// model does before the handler sees the request, by the model's
// catalogue entry (internal/catalogue). For a Claude 5.5 model:
//
//   - temperature, topP or top_k (additionalModelRequestFields) is a
//     ValidationException naming it (catalogue.SamplingRejection);
//   - a conversation that ends on an assistant turn (a prefill) is a
//     ValidationException (catalogue.PrefillRejection);
//   - unless the request turns its adaptive thinking off
//     (additionalModelRequestFields {"thinking": {"type": <its
//     Thinking.Off>}}), the answer streams a reasoning block (its text,
//     then a signature) before the text, as Converse does.
//
// For every model the catalogue knows, an outputConfig.textFormat must be
// as Bedrock's Converse takes it (aws-sdk-go-v2's OutputFormat): type
// "json_schema" and structure.jsonSchema with schema, a string holding a
// JSON schema object, and an optional name; anything else, a model whose
// entry has no StructuredOutput, or a text format with a prefilled
// assistant turn (Anthropic documents JSON outputs as incompatible with a
// prefill) is a ValidationException. [Request.Schema] is the schema sent.
//
// The messages are Bedrock's as third parties quote them (no primary
// source has their text; see internal/catalogue).
package bedrocktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/promptq/promptq/internal/catalogue"
)

// Request is a Converse or ConverseStream request as the server received it.
type Request struct {
	ModelID string
	Stream  bool // ConverseStream
	// Prompt is the first user turn's text; Messages are all the turns.
	Prompt   string
	Messages []Message
	System   string
	// MaxTokens, Temperature and TopP are inferenceConfig's (nil: absent).
	MaxTokens   *int
	Temperature *float64
	TopP        *float64
	// Effort and TextFormat are outputConfig's ("" and nil: absent);
	// Schema and SchemaName are the text format's JSON schema, decoded
	// from its string, and name (nil and "" when there is none, or it is
	// not as Bedrock takes it: see ModelRules).
	Effort     string
	TextFormat json.RawMessage
	Schema     json.RawMessage
	SchemaName string
	// AdditionalFields are additionalModelRequestFields, decoded (nil:
	// absent).
	AdditionalFields map[string]any
	Header           http.Header
	Body             []byte // the raw JSON body
	// Call counts the requests this server has received, starting at 1, so
	// a handler can answer the first call differently from a retry.
	Call int
}

// Message is one turn of a request's conversation: its role ("user",
// "assistant") and its text blocks, joined.
type Message struct {
	Role string
	Text string
}

// ThinkingType is the thinking type the request's additional fields set
// ({"thinking": {"type": ...}}), or "".
func (r *Request) ThinkingType() string {
	t, _ := r.AdditionalFields["thinking"].(map[string]any)
	s, _ := t["type"].(string)
	return s
}

// Handler answers one request.
type Handler func(w *Response, r *Request)

// TB is the part of testing.TB the server uses: a test passes its *testing.T,
// and a measurement (scripts/measure/coldstart) that links no testing
// package a TB of its own.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
}

// Server is a running fake Bedrock endpoint.
type Server struct {
	URL string

	t       TB
	handler Handler
	mu      sync.Mutex
	calls   int
}

// NewServer starts a fake endpoint on 127.0.0.1 for t; it stops when t ends.
func NewServer(t TB, h Handler) *Server {
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
		TopP        *float64 `json:"topP"`
	} `json:"inferenceConfig"`
	OutputConfig *struct {
		Effort     string          `json:"effort"`
		TextFormat json.RawMessage `json:"textFormat"`
	} `json:"outputConfig"`
	AdditionalModelRequestFields map[string]any `json:"additionalModelRequestFields"`
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
	req := &Request{ModelID: r.PathValue("model"), Stream: stream, Header: r.Header.Clone(), Body: body, Call: call,
		AdditionalFields: wire.AdditionalModelRequestFields}
	for _, m := range wire.Messages {
		var text strings.Builder
		for _, c := range m.Content {
			text.WriteString(c.Text)
		}
		req.Messages = append(req.Messages, Message{Role: m.Role, Text: text.String()})
		if m.Role == "user" && req.Prompt == "" {
			req.Prompt = text.String()
		}
	}
	for _, sys := range wire.System {
		req.System += sys.Text
	}
	if ic := wire.InferenceConfig; ic != nil {
		req.MaxTokens, req.Temperature, req.TopP = ic.MaxTokens, ic.Temperature, ic.TopP
	}
	if oc := wire.OutputConfig; oc != nil {
		req.Effort, req.TextFormat = oc.Effort, oc.TextFormat
		req.Schema, req.SchemaName, _ = textFormat(oc.TextFormat)
	}
	s.handler(&Response{t: s.t, w: w, r: r, stream: stream, enc: eventstream.NewEncoder()}, req)
}

// textFormat is the JSON schema and name of an outputConfig.textFormat, or
// why it is not one as Bedrock takes it (Converse's OutputFormat: type
// json_schema, structure.jsonSchema.schema a string of JSON).
func textFormat(raw json.RawMessage) (schema json.RawMessage, name, problem string) {
	var f struct {
		Type      string `json:"type"`
		Structure struct {
			JSONSchema *struct {
				Schema      *string `json:"schema"`
				Name        string  `json:"name"`
				Description string  `json:"description"`
			} `json:"jsonSchema"`
		} `json:"structure"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, "", "outputConfig.textFormat is not an OutputFormat: " + err.Error()
	}
	js := f.Structure.JSONSchema
	switch {
	case f.Type != "json_schema":
		return nil, "", fmt.Sprintf("outputConfig.textFormat.type %q is not json_schema", f.Type)
	case js == nil || js.Schema == nil:
		return nil, "", "outputConfig.textFormat.structure.jsonSchema.schema is required"
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(*js.Schema), &obj); err != nil || obj == nil {
		return nil, "", "outputConfig.textFormat.structure.jsonSchema.schema is not a JSON schema object"
	}
	return json.RawMessage(*js.Schema), js.Name, ""
}

// ThinkingText is the reasoning a thinking model's answer starts with
// under [ModelRules].
const ThinkingText = "The user wants an answer; I will write it plainly."

// ModelRules returns a handler that answers r as r's model does (its
// catalogue entry) and passes what the model accepts on to next; see the
// package comment. A model the catalogue does not know, or one without
// these rules, gets next as it is.
func ModelRules(next Handler) Handler {
	return func(w *Response, r *Request) {
		m, ok := catalogue.Lookup(r.ModelID)
		if !ok {
			next(w, r)
			return
		}
		if r.TextFormat != nil {
			_, _, problem := textFormat(r.TextFormat)
			n := len(r.Messages)
			switch {
			case problem != "":
				w.Error(http.StatusBadRequest, "ValidationException", problem)
				return
			case !m.StructuredOutput:
				w.Error(http.StatusBadRequest, "ValidationException", "This model does not support outputConfig.textFormat.")
				return
			case n > 0 && r.Messages[n-1].Role == "assistant":
				w.Error(http.StatusBadRequest, "ValidationException", "A prefilled assistant turn cannot be used with outputConfig.textFormat.")
				return
			}
		}
		if !m.Temperature {
			for _, p := range []struct {
				name string
				sent bool
			}{{"temperature", r.Temperature != nil}, {"top_p", r.TopP != nil}, {"top_k", r.AdditionalFields["top_k"] != nil}} {
				if p.sent {
					w.Error(http.StatusBadRequest, "ValidationException", catalogue.SamplingRejection(p.name))
					return
				}
			}
		}
		if n := len(r.Messages); m.Continuation == catalogue.UserTurn && n > 0 && r.Messages[n-1].Role == "assistant" {
			w.Error(http.StatusBadRequest, "ValidationException", catalogue.PrefillRejection)
			return
		}
		if th := m.Thinking; th.Adaptive && (th.Off == "" || r.ThinkingType() != th.Off) {
			w.thinks = true
		}
		next(w, r)
	}
}

// Response writes one answer. Methods report write failures with t.Errorf
// unless the client has gone away.
//
// For ConverseStream each method writes its events at once; for Converse
// the text (Delta) and reasoning are gathered and written as one JSON
// document by Finish, Answer or Refuse.
type Response struct {
	t       TB
	w       http.ResponseWriter
	r       *http.Request
	stream  bool
	enc     *eventstream.Encoder
	started bool
	// thinks: the model thinks (ModelRules), so Start writes a reasoning
	// block first.
	thinks bool
	// block is the index of the content block the next delta goes to.
	block int
	// text and reasoning are a Converse answer's, until it is written.
	text      strings.Builder
	reasoning []string
}

// Thinks reports whether the answer starts with the model's reasoning
// (ModelRules found the request's model thinking).
func (w *Response) Thinks() bool { return w.thinks }

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
	w.Start()
	for _, p := range pieces {
		w.Delta(p)
	}
	w.Finish(stopReason, inputTokens, outputTokens)
}

// Start begins a ConverseStream answer: the HTTP headers and messageStart,
// then, for a thinking model (ModelRules), a reasoning block with
// ThinkingText. It does nothing more once the answer has started.
func (w *Response) Start() {
	if w.started {
		return
	}
	w.started = true
	if !w.stream {
		if w.thinks {
			w.Reasoning(ThinkingText)
		}
		return
	}
	w.w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.w.WriteHeader(http.StatusOK)
	w.Event("messageStart", map[string]string{"role": "assistant"})
	if w.thinks {
		w.Reasoning(ThinkingText)
	}
}

// Reasoning sends a reasoning content block: for ConverseStream a
// contentBlockDelta with reasoningContent text, one with its signature,
// and contentBlockStop (text goes to the next block); for Converse a
// reasoningContent block before the text.
func (w *Response) Reasoning(text string) {
	w.Start()
	if !w.stream {
		w.reasoning = append(w.reasoning, text)
		return
	}
	w.Event("contentBlockDelta", map[string]any{"contentBlockIndex": w.block,
		"delta": map[string]any{"reasoningContent": map[string]string{"text": text}}})
	w.Event("contentBlockDelta", map[string]any{"contentBlockIndex": w.block,
		"delta": map[string]any{"reasoningContent": map[string]string{"signature": signature}}})
	w.Event("contentBlockStop", map[string]any{"contentBlockIndex": w.block})
	w.block++
}

// signature stands in for the signature Bedrock gives a reasoning block.
const signature = "YmVkcm9ja3Rlc3Qgc2lnbmF0dXJl"

// Delta sends one contentBlockDelta with text, and flushes it to the
// client (for Converse, adds text to the answer).
func (w *Response) Delta(text string) {
	w.Start()
	if !w.stream {
		w.text.WriteString(text)
		return
	}
	w.Event("contentBlockDelta", map[string]any{"contentBlockIndex": w.block, "delta": map[string]string{"text": text}})
}

// Finish sends contentBlockStop, messageStop and metadata with usage (for
// Converse, the answer).
func (w *Response) Finish(stopReason string, inputTokens, outputTokens int) {
	w.end(stopReason, nil, inputTokens, outputTokens)
}

// Refuse ends the answer as a model that declined the request does, as
// Anthropic documents it (Bedrock's side is unconfirmed): stop reason
// "refusal", with additionalModelResponseFields {"stop_details": {"type":
// "refusal", "category": ..., "explanation": ...}}, and the usage billed.
func (w *Response) Refuse(category, explanation string, inputTokens, outputTokens int) {
	w.end("refusal", map[string]any{"stop_details": map[string]string{
		"type": "refusal", "category": category, "explanation": explanation}}, inputTokens, outputTokens)
}

func (w *Response) end(stopReason string, fields map[string]any, inputTokens, outputTokens int) {
	w.Start()
	if !w.stream {
		var content []any
		for _, r := range w.reasoning {
			content = append(content, map[string]any{"reasoningContent": map[string]any{
				"reasoningText": map[string]string{"text": r, "signature": signature}}})
		}
		content = append(content, map[string]string{"text": w.text.String()})
		doc := map[string]any{
			"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": content}},
			"stopReason": stopReason,
			"usage":      usage(inputTokens, outputTokens),
			"metrics":    map[string]int{"latencyMs": 1},
		}
		if fields != nil {
			doc["additionalModelResponseFields"] = fields
		}
		w.w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w.w).Encode(doc)
		return
	}
	w.Event("contentBlockStop", map[string]any{"contentBlockIndex": w.block})
	stop := map[string]any{"stopReason": stopReason}
	if fields != nil {
		stop["additionalModelResponseFields"] = fields
	}
	w.Event("messageStop", stop)
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
//
// For ConverseStream only.
func (w *Response) Exception(exceptionType, message string) {
	w.Start()
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
