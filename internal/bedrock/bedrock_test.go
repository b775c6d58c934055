package bedrock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/promptq/promptq/internal/bedrock"
	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/dev/bedrocktest"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/worker"
)

// The model id has a colon, which must survive the URL path.
const modelID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"

var _ worker.Model = (*bedrock.Model)(nil)

func request() jobs.Request {
	temp := 0.25
	return jobs.Request{
		Prompt:      "Write a haiku about queues.",
		System:      "You are terse.",
		MaxTokens:   200,
		Temperature: &temp,
		Model:       modelID,
	}
}

// collect records the deltas Generate hands out.
type collect struct{ deltas []string }

func (c *collect) add(s string) { c.deltas = append(c.deltas, s) }

func TestGenerateSendsTheJobsParametersAndReturnsTheAnswer(t *testing.T) {
	t.Parallel()
	for _, streaming := range []bool{true, false} {
		name := map[bool]string{true: "ConverseStream", false: "Converse"}[streaming]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var got *bedrocktest.Request
			srv := bedrocktest.NewServer(t, func(w *bedrocktest.Response, r *bedrocktest.Request) {
				got = r
				w.Answer([]string{"Messages wait ", "in line; ", "workers drain."}, "end_turn", 17, 9)
			})
			m := bedrock.New(srv.Client(1), bedrock.Options{DisableStreaming: !streaming})
			var c collect
			p, err := m.Generate(t.Context(), request(), c.add)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			want := jobs.Progress{
				GeneratedText: "Messages wait in line; workers drain.",
				Tokens:        jobs.Tokens{Input: 17, Output: 9},
				StopReason:    "end_turn",
			}
			if p != want {
				t.Errorf("Generate = %+v, want %+v", p, want)
			}
			if joined := strings.Join(c.deltas, ""); joined != want.GeneratedText {
				t.Errorf("deltas join to %q, want %q", joined, want.GeneratedText)
			}
			if streaming && len(c.deltas) != 3 {
				t.Errorf("got %d deltas %q, want the stream's 3", len(c.deltas), c.deltas)
			}
			if got == nil {
				t.Fatal("the server saw no request")
			}
			if got.Stream != streaming {
				t.Errorf("request went to stream=%v, want %v", got.Stream, streaming)
			}
			if got.ModelID != modelID || got.Prompt != "Write a haiku about queues." || got.System != "You are terse." {
				t.Errorf("request model=%q prompt=%q system=%q", got.ModelID, got.Prompt, got.System)
			}
			if got.MaxTokens == nil || *got.MaxTokens != 200 {
				t.Errorf("maxTokens = %v, want 200", got.MaxTokens)
			}
			if got.Temperature == nil || *got.Temperature != 0.25 {
				t.Errorf("temperature = %v, want 0.25", got.Temperature)
			}
			if a := got.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 ") || !strings.Contains(a, "/bedrock/aws4_request") {
				t.Errorf("request is not SigV4-signed for bedrock: %q", a)
			}
		})
	}
}

func TestGenerateLeavesOutWhatTheJobDoesNotSet(t *testing.T) {
	t.Parallel()
	var got *bedrocktest.Request
	srv := bedrocktest.NewServer(t, func(w *bedrocktest.Response, r *bedrocktest.Request) {
		got = r
		w.Answer([]string{"ok"}, "end_turn", 1, 1)
	})
	req := jobs.Request{Prompt: "hi", Model: modelID}
	if _, err := bedrock.New(srv.Client(1), bedrock.Options{}).Generate(t.Context(), req, func(string) {}); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if got.Temperature != nil || got.MaxTokens != nil || got.System != "" {
		t.Errorf("request had temperature=%v maxTokens=%v system=%q, want none (the model's defaults)", got.Temperature, got.MaxTokens, got.System)
	}
	if strings.Contains(string(got.Body), `"system"`) {
		t.Errorf("request body has a system block for an empty system prompt: %s", got.Body)
	}
}

// The stream must reach the caller while the model is still generating:
// the server holds back the rest of the answer until the caller has seen
// the first delta, so a client that buffered the whole stream would never
// finish.
func TestGenerateStreamsDeltasBeforeTheAnswerEnds(t *testing.T) {
	t.Parallel()
	firstSeen := make(chan struct{})
	srv := bedrocktest.NewServer(t, func(w *bedrocktest.Response, r *bedrocktest.Request) {
		w.Start()
		w.Delta("first ")
		select {
		case <-firstSeen:
		case <-w.Context().Done():
			return
		case <-time.After(30 * time.Second):
			t.Error("the caller did not see the first delta while the stream was open")
			return
		}
		w.Delta("second")
		w.Finish("max_tokens", 3, 2)
	})
	var c collect
	p, err := bedrock.New(srv.Client(1), bedrock.Options{}).Generate(t.Context(), request(), func(s string) {
		c.add(s)
		if len(c.deltas) == 1 {
			close(firstSeen)
		}
	})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if p.GeneratedText != "first second" || p.StopReason != "max_tokens" || p.Tokens != (jobs.Tokens{Input: 3, Output: 2}) {
		t.Errorf("Generate = %+v", p)
	}
	if !slices.Equal(c.deltas, []string{"first ", "second"}) {
		t.Errorf("deltas = %q", c.deltas)
	}
}

func TestThrottlingThenSuccessIsRetriedBySDKWithinOneCall(t *testing.T) {
	t.Parallel()
	srv := bedrocktest.NewServer(t, func(w *bedrocktest.Response, r *bedrocktest.Request) {
		if r.Call == 1 {
			w.Error(http.StatusTooManyRequests, "ThrottlingException", "Too many requests, please wait before trying again.")
			return
		}
		w.Answer([]string{"fine"}, "end_turn", 2, 1)
	})
	p, err := bedrock.New(srv.Client(3), bedrock.Options{}).Generate(t.Context(), request(), func(string) {})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if p.GeneratedText != "fine" || srv.Calls() != 2 {
		t.Errorf("Generate = %+v after %d calls, want \"fine\" after 2", p, srv.Calls())
	}
}

// With the SDK's attempts used up, throttling reaches the worker as a
// retryable error; the next delivery of the message then succeeds.
func TestThrottlingThenSuccessAcrossGenerateCalls(t *testing.T) {
	t.Parallel()
	srv := bedrocktest.NewServer(t, func(w *bedrocktest.Response, r *bedrocktest.Request) {
		if r.Call == 1 {
			w.Error(http.StatusTooManyRequests, "ThrottlingException", "Too many requests, please wait before trying again.")
			return
		}
		w.Answer([]string{"fine"}, "end_turn", 2, 1)
	})
	m := bedrock.New(srv.Client(1), bedrock.Options{})
	_, err := m.Generate(t.Context(), request(), func(string) {})
	if jobs.KindOf(err) != jobs.KindRateLimited || !worker.Retryable(err) {
		t.Fatalf("first Generate: %v (kind %s), want a retryable rate limit", err, jobs.KindOf(err))
	}
	var throttled *types.ThrottlingException
	if !errors.As(err, &throttled) {
		t.Errorf("error chain lost the SDK's *types.ThrottlingException: %v", err)
	}
	p, err := m.Generate(t.Context(), request(), func(string) {})
	if err != nil || p.GeneratedText != "fine" {
		t.Fatalf("second Generate = %+v, %v", p, err)
	}
}

// Errors Bedrock answers before any streaming starts.
func TestErrorsBeforeTheStreamAreClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    int
		errorType string
		message   string
		kind      jobs.Kind
		retryable bool
		// wantMsg must be in the readable message, notMsg must not.
		wantMsg, notMsg string
	}{
		{429, "ThrottlingException", "Too many requests", jobs.KindRateLimited, true, "too many requests", ""},
		{503, "ServiceUnavailableException", "Service unavailable", jobs.KindUnavailable, true, "temporarily unavailable", ""},
		{500, "InternalServerException", "boom at host ip-10-0-0-1", jobs.KindUnavailable, true, "internal error", "ip-10"},
		{408, "ModelTimeoutException", "Model timed out", jobs.KindUnavailable, true, "too long", ""},
		{429, "ModelNotReadyException", "Model is warming", jobs.KindUnavailable, true, "not ready", ""},
		{400, "ServiceQuotaExceededException", "quota", jobs.KindRateLimited, true, "quota", ""},
		{424, "ModelErrorException", "model crashed", jobs.KindUnavailable, true, "failed while processing", ""},
		{400, "ValidationException", "max_tokens must be at most 4096 for arn:aws:bedrock:us-east-1:123456789012:inference-profile/x",
			jobs.KindInvalid, false, "max_tokens must be at most 4096", "123456789012"},
		{403, "AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/worker is not authorized to perform: bedrock:InvokeModel",
			jobs.KindUnauthorized, false, "not allowed", "assumed-role"},
		{404, "ResourceNotFoundException", "Model not found", jobs.KindNotFound, false, "not found", ""},
		{400, "SomethingNewException", "?", jobs.KindInternal, true, "failed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.errorType, func(t *testing.T) {
			t.Parallel()
			for _, streaming := range []bool{true, false} {
				srv := bedrocktest.NewServer(t, func(w *bedrocktest.Response, r *bedrocktest.Request) {
					w.Error(tt.status, tt.errorType, tt.message)
				})
				m := bedrock.New(srv.Client(1), bedrock.Options{DisableStreaming: !streaming})
				var c collect
				_, err := m.Generate(t.Context(), request(), c.add)
				checkError(t, err, tt.kind, tt.retryable, tt.wantMsg, tt.notMsg)
				if len(c.deltas) != 0 {
					t.Errorf("deltas %q from a failed call", c.deltas)
				}
			}
		})
	}
}

// Exceptions that arrive as event-stream frames after text has streamed.
func TestExceptionsMidStreamAreClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		exception string
		kind      jobs.Kind
		retryable bool
		wantMsg   string
	}{
		{"throttlingException", jobs.KindRateLimited, true, "too many requests"},
		{"modelStreamErrorException", jobs.KindUnavailable, true, "broke off"},
		{"internalServerException", jobs.KindUnavailable, true, "internal error"},
		{"serviceUnavailableException", jobs.KindUnavailable, true, "temporarily unavailable"},
		{"validationException", jobs.KindInvalid, false, "The model rejected the request: Output blocked"},
	}
	for _, tt := range tests {
		t.Run(tt.exception, func(t *testing.T) {
			t.Parallel()
			srv := bedrocktest.NewServer(t, func(w *bedrocktest.Response, r *bedrocktest.Request) {
				w.Start()
				w.Delta("partial ")
				w.Exception(tt.exception, "Output blocked")
			})
			var c collect
			p, err := bedrock.New(srv.Client(3), bedrock.Options{}).Generate(t.Context(), request(), c.add)
			checkError(t, err, tt.kind, tt.retryable, tt.wantMsg, "")
			// What streamed comes back with the error, never as an answer.
			if p.StopReason != "" || p.GeneratedText != "partial " {
				t.Errorf("a failed stream returned %+v", p)
			}
			if !slices.Equal(c.deltas, []string{"partial "}) {
				t.Errorf("deltas = %q, want the one before the exception", c.deltas)
			}
			if srv.Calls() != 1 {
				t.Errorf("%d calls; a stream that failed midway must not be retried inside Generate", srv.Calls())
			}
		})
	}
}

func TestAStreamCutShortIsNotAResult(t *testing.T) {
	t.Parallel()
	tests := map[string]bedrocktest.Handler{
		"connection reset mid-stream": func(w *bedrocktest.Response, r *bedrocktest.Request) {
			w.Start()
			w.Delta("partial ")
			w.Abort()
		},
		"stream ends without messageStop": func(w *bedrocktest.Response, r *bedrocktest.Request) {
			w.Start()
			w.Delta("partial ")
		},
		"connection reset before answering": func(w *bedrocktest.Response, r *bedrocktest.Request) {
			w.Abort()
		},
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := bedrocktest.NewServer(t, h)
			p, err := bedrock.New(srv.Client(1), bedrock.Options{}).Generate(t.Context(), request(), func(string) {})
			if p.StopReason != "" {
				t.Errorf("a broken stream returned a result: %+v", p)
			}
			if err == nil || !worker.Retryable(err) {
				t.Fatalf("Generate error = %v (kind %s), want a retryable error", err, jobs.KindOf(err))
			}
		})
	}
}

// A model that stops sending while the job's time runs out: Generate
// returns the context's error promptly, with no result.
func TestGenerateStopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	for _, streaming := range []bool{true, false} {
		srv := bedrocktest.NewServer(t, func(w *bedrocktest.Response, r *bedrocktest.Request) {
			if r.Stream {
				w.Start()
				w.Delta("slow ")
			}
			<-w.Context().Done()
		})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		p, err := bedrock.New(srv.Client(3), bedrock.Options{DisableStreaming: !streaming}).Generate(ctx, request(), func(string) {})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("streaming=%v: Generate error = %v, want context.DeadlineExceeded", streaming, err)
		}
		if p.StopReason != "" {
			t.Errorf("streaming=%v: a timed-out call returned a result: %+v", streaming, p)
		}
	}
}

func TestUnreachableEndpointIsRetryable(t *testing.T) {
	t.Parallel()
	// A port that was just free and is closed again: nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	_, err = bedrock.New(bedrocktest.NewClient(url, 1), bedrock.Options{}).Generate(t.Context(), request(), func(string) {})
	checkError(t, err, jobs.KindUnavailable, true, "could not be reached", "127.0.0.1")
}

func checkError(t *testing.T, err error, kind jobs.Kind, retryable bool, wantMsg, notMsg string) {
	t.Helper()
	if err == nil {
		t.Fatal("Generate succeeded, want an error")
	}
	if got := jobs.KindOf(err); got != kind {
		t.Errorf("kind = %s, want %s (error %v)", got, kind, err)
	}
	if got := worker.Retryable(err); got != retryable {
		t.Errorf("Retryable = %v, want %v (error %v)", got, retryable, err)
	}
	var e *jobs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *jobs.Error", err)
	}
	if !strings.Contains(strings.ToLower(e.Message), strings.ToLower(wantMsg)) {
		t.Errorf("message %q does not contain %q", e.Message, wantMsg)
	}
	if notMsg != "" && strings.Contains(e.Message, notMsg) {
		t.Errorf("message %q leaks %q", e.Message, notMsg)
	}
}

// A continuing call's exact request: the prompt as the user's turn, then
// the text so far as the assistant's, its trailing whitespace trimmed
// (Bedrock refuses it); a system prompt past the model's caching minimum is
// followed by a cache point, and the cache's reads and writes come back in
// the tokens.
func TestAContinuationPrefillsTheTrimmedTextAndCachesALongSystemPrompt(t *testing.T) {
	t.Parallel()
	var got *bedrocktest.Request
	srv := bedrocktest.NewServer(t, func(w *bedrocktest.Response, r *bedrocktest.Request) {
		got = r
		w.Start()
		w.Delta(" and on.")
		w.Event("messageStop", map[string]any{"stopReason": "end_turn"})
		w.Event("metadata", map[string]any{
			"usage":   map[string]any{"inputTokens": 12, "outputTokens": 3, "totalTokens": 4115, "cacheReadInputTokens": 4100, "cacheWriteInputTokens": 0},
			"metrics": map[string]any{"latencyMs": 5},
		})
	})
	req := request()
	req.System = strings.Repeat("Rules. ", 2400) // 16,800 characters: about 4,200 tokens, past Haiku 4.5's 4,096
	req.Continue = "The answer so far goes on \n\t "
	p, err := bedrock.New(srv.Client(1), bedrock.Options{}).Generate(t.Context(), req, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Messages []struct {
			Role    string           `json:"role"`
			Content []map[string]any `json:"content"`
		} `json:"messages"`
		System []map[string]any `json:"system"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := `[{"role":"user","content":[{"text":"Write a haiku about queues."}]},{"role":"assistant","content":[{"text":"The answer so far goes on"}]}]`
	if b, _ := json.Marshal(body.Messages); string(b) != want {
		t.Errorf("messages %s\nwant %s", b, want)
	}
	if b, _ := json.Marshal(body.System[1:]); len(body.System) != 2 || body.System[0]["text"] != req.System || string(b) != `[{"cachePoint":{"type":"default"}}]` {
		t.Errorf("system blocks %d, after the text: %s", len(body.System), b)
	}
	wantTokens := jobs.Tokens{Input: 12, Output: 3, CacheRead: 4100}
	if p.GeneratedText != " and on." || p.Tokens != wantTokens {
		t.Errorf("result %+v, want the new text and tokens %+v", p, wantTokens)
	}
}

// Below the model's caching minimum, and without text to continue, the
// request has neither a cache point nor an assistant turn.
func TestAShortSystemPromptGetsNoCachePoint(t *testing.T) {
	t.Parallel()
	var got *bedrocktest.Request
	srv := bedrocktest.NewServer(t, func(w *bedrocktest.Response, r *bedrocktest.Request) {
		got = r
		w.Answer([]string{"ok"}, "end_turn", 5, 1)
	})
	req := request()
	req.System = strings.Repeat("Rules. ", 2000) // 14,000 characters: about 3,500 tokens, short of 4,096
	req.Continue = " \n"                         // whitespace only: nothing to prefill
	if _, err := bedrock.New(srv.Client(1), bedrock.Options{}).Generate(t.Context(), req, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if s := string(got.Body); strings.Contains(s, "cachePoint") || strings.Contains(s, `"assistant"`) {
		t.Errorf("request %s has a cache point or an assistant turn", s)
	}
}

// A call cut off before Bedrock's usage event is charged a safe upper bound
// in bytes (jobs.Request.CutOffTokens), as reservations are: a CJK or emoji
// answer, whose characters are 3-4 bytes and 1-4 tokens each, must not be
// charged a quarter of its characters. Its input is the system prompt and
// the conversation (the prompt, the continued text without its trailing
// space and, for a user-turn model, the turn asking it to go on); its
// output the bytes streamed, reasoning included (billed as output), at
// most max_tokens.
func TestACallCutOffIsChargedABoundInBytes(t *testing.T) {
	t.Parallel()
	const (
		streamed = "量子は待つ🚀" // 6 characters, 19 bytes
		thought  = "考える"    // 3 characters, 9 bytes
		haiku55  = "us.anthropic.claude-haiku-5-5"
	)
	tests := map[string]struct {
		handler   bedrocktest.Handler
		model     string
		maxTokens int
		cancel    bool // the worker's deadline: the context ends after the delta
		input     int  // beyond the prompt's, system prompt's and continued text's bytes
		output    int
	}{
		"an exception mid-stream": {handler: func(w *bedrocktest.Response, r *bedrocktest.Request) {
			w.Start()
			w.Delta(streamed)
			w.Exception("modelStreamErrorException", "broke")
		}, maxTokens: 200, output: 19},
		"a stream that ends without messageStop": {handler: func(w *bedrocktest.Response, r *bedrocktest.Request) {
			w.Start()
			w.Delta(streamed)
		}, maxTokens: 200, output: 19},
		"the deadline": {handler: func(w *bedrocktest.Response, r *bedrocktest.Request) {
			w.Start()
			w.Delta(streamed)
			<-w.Context().Done()
		}, maxTokens: 200, cancel: true, output: 19},
		"more bytes than max_tokens": {handler: func(w *bedrocktest.Response, r *bedrocktest.Request) {
			w.Start()
			w.Delta(streamed)
			w.Exception("modelStreamErrorException", "broke")
		}, maxTokens: 10, output: 10},
		"reasoning before the text": {handler: func(w *bedrocktest.Response, r *bedrocktest.Request) {
			w.Start()
			w.Reasoning(thought)
			w.Delta(streamed)
			w.Exception("modelStreamErrorException", "broke")
		}, maxTokens: 200, output: 9 + 19},
		"a user-turn model": {handler: func(w *bedrocktest.Response, r *bedrocktest.Request) {
			w.Start()
			w.Delta(streamed)
			w.Exception("modelStreamErrorException", "broke")
		}, model: haiku55, maxTokens: 200, input: len(jobs.ContinueTurn), output: 19},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := bedrocktest.NewServer(t, tt.handler)
			req := request()
			if tt.model != "" {
				req.Model, req.Temperature = tt.model, nil
			}
			req.Prompt = "量子計算について俳句を書いてください。" // 19 characters, 57 bytes
			req.System = "簡潔に。✨"               // 5 characters, 15 bytes
			req.Continue = "待ち行列 "             // 5 characters, 13 bytes: 12 sent
			req.ContinueBy = jobs.ContinuationOf(req.Model)
			req.MaxTokens = tt.maxTokens
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			p, err := bedrock.New(srv.Client(1), bedrock.Options{}).Generate(ctx, req, func(string) {
				if tt.cancel {
					cancel()
				}
			})
			if err == nil || p.StopReason != "" {
				t.Fatalf("a cut-off call returned %+v, %v; want its partial text and an error", p, err)
			}
			if p.GeneratedText != streamed {
				t.Fatalf("text %q, want %q", p.GeneratedText, streamed)
			}
			want := jobs.Tokens{Input: 57 + 15 + 12 + tt.input + jobs.InputFramingTokens, Output: tt.output}
			if p.Tokens != want {
				t.Errorf("tokens %+v, want the bound in bytes %+v", p.Tokens, want)
			}
		})
	}
}

// haiku55 is Claude Haiku 5.5 through its US profile: no temperature, no
// prefill, adaptive thinking that promptq turns off up to effort high.
const haiku55 = "us.anthropic.claude-haiku-5-5"

// A model that takes no prefill (Claude Haiku 5.5) continues from a user
// turn: the prompt, the text so far (trimmed) as the assistant's earlier
// turn, then jobs.ContinueTurn; the endpoint, answering as the model does,
// accepts it and only the new text comes back. The same text given as a
// prefill is refused with Bedrock's message, as the model refuses it.
func TestAUserTurnModelContinuesFromAUserTurn(t *testing.T) {
	t.Parallel()
	var got *bedrocktest.Request
	srv := bedrocktest.NewServer(t, bedrocktest.ModelRules(func(w *bedrocktest.Response, r *bedrocktest.Request) {
		got = r
		w.Answer([]string{"goes on and on."}, "end_turn", 40, 4)
	}))
	m := bedrock.New(srv.Client(1), bedrock.Options{})
	req := jobs.Request{Prompt: "Write on.", Model: haiku55, MaxTokens: 100, Effort: "medium",
		Continue: "The answer so far \n", ContinueBy: catalogue.UserTurn}
	var c collect
	p, err := m.Generate(t.Context(), req, c.add)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	want := []bedrocktest.Message{{Role: "user", Text: "Write on."}, {Role: "assistant", Text: "The answer so far"}, {Role: "user", Text: jobs.ContinueTurn}}
	if !slices.Equal(got.Messages, want) {
		t.Errorf("messages %q\nwant %q", got.Messages, want)
	}
	if p.GeneratedText != "goes on and on." || strings.Join(c.deltas, "") != p.GeneratedText || p.Tokens != (jobs.Tokens{Input: 40, Output: 4}) {
		t.Errorf("Generate = %+v, deltas %q", p, c.deltas)
	}

	req.ContinueBy = catalogue.Prefill
	_, err = m.Generate(t.Context(), req, c.add)
	checkError(t, err, jobs.KindInvalid, false, "The model rejected the request: "+catalogue.PrefillRejection, "")
}

// What a call asks besides the conversation follows its model
// (jobs.Request.Params): temperature only where the model takes one, the
// effort as outputConfig.effort, and thinking turned off where the model
// can and promptq does not let it think at that effort. A thinking model's
// reasoning is never part of the answer, streamed or not.
func TestTheParametersFollowTheModel(t *testing.T) {
	t.Parallel()
	half := 0.5
	tests := []struct {
		name        string
		req         jobs.Request
		temperature bool
		effort      string
		thinking    string // the thinking type sent; "": none
		reasons     bool   // the model streams reasoning first
	}{
		{"Haiku 5.5 at its default effort thinks not", jobs.Request{Model: haiku55, Temperature: &half, Effort: "medium"}, false, "medium", "disabled", false},
		{"Haiku 5.5 at effort high thinks not", jobs.Request{Model: haiku55, Effort: "high"}, false, "high", "disabled", false},
		{"Haiku 5.5 at effort xhigh thinks", jobs.Request{Model: haiku55, Effort: "xhigh"}, false, "xhigh", "", true},
		{"an old Haiku 5.5 job without effort runs at promptq's default", jobs.Request{Model: haiku55}, false, "medium", "disabled", false},
		{"Opus 5.5 always thinks", jobs.Request{Model: "us.anthropic.claude-opus-5-5", Effort: "low"}, false, "low", "", true},
		{"Haiku 4.5 takes a temperature and no effort", jobs.Request{Model: modelID, Temperature: &half}, true, "", "", false},
		{"a model the catalogue does not know gets what it is sent", jobs.Request{Model: "anthropic.claude-next-v1:0", Temperature: &half, Effort: "low"}, true, "low", "", false},
	}
	for _, tt := range tests {
		for _, streaming := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, streaming %v", tt.name, streaming), func(t *testing.T) {
				t.Parallel()
				var (
					got     *bedrocktest.Request
					reasons bool
				)
				srv := bedrocktest.NewServer(t, bedrocktest.ModelRules(func(w *bedrocktest.Response, r *bedrocktest.Request) {
					got, reasons = r, w.Thinks()
					w.Answer([]string{"An ", "answer."}, "end_turn", 5, 9)
				}))
				req := tt.req
				req.Prompt, req.MaxTokens = "Say it.", 50
				var c collect
				p, err := bedrock.New(srv.Client(1), bedrock.Options{DisableStreaming: !streaming}).Generate(t.Context(), req, c.add)
				if err != nil {
					t.Fatalf("Generate: %v", err)
				}
				if (got.Temperature != nil) != tt.temperature || got.TopP != nil || got.Effort != tt.effort || got.ThinkingType() != tt.thinking {
					t.Errorf("sent temperature %v topP %v effort %q thinking %q; want temperature %v, effort %q, thinking %q",
						got.Temperature, got.TopP, got.Effort, got.ThinkingType(), tt.temperature, tt.effort, tt.thinking)
				}
				if tt.thinking == "" && got.AdditionalFields != nil || tt.effort == "" && strings.Contains(string(got.Body), "outputConfig") {
					t.Errorf("request %s sends fields it need not", got.Body)
				}
				if p.GeneratedText != "An answer." || strings.Join(c.deltas, "") != "An answer." || p.Tokens.Output != 9 {
					t.Errorf("Generate = %+v, deltas %q; want the text alone", p, c.deltas)
				}
				if reasons != tt.reasons {
					t.Errorf("the model reasoned %v, want %v", reasons, tt.reasons)
				}
			})
		}
	}
}

// A refusal (stop reason "refusal", or "content_filtered") returns the
// text and tokens Bedrock reported, which are billed, with jobs.Refused:
// not retryable, and with the model's reason when its stop_details give
// one.
func TestARefusalReturnsWhatWasBilledWithItsReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		refuse  func(w *bedrocktest.Response)
		wantMsg string
	}{
		{"with stop_details", func(w *bedrocktest.Response) { w.Refuse("cyber", "It asks for malware.", 20, 5) },
			"declined this request (its safety classifiers stopped it). Its reason: It asks for malware. (category: cyber)"},
		{"content_filtered without details", func(w *bedrocktest.Response) { w.Finish("content_filtered", 20, 5) },
			"declined this request (its safety classifiers stopped it)."},
	}
	for _, tt := range tests {
		for _, streaming := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, streaming %v", tt.name, streaming), func(t *testing.T) {
				t.Parallel()
				srv := bedrocktest.NewServer(t, func(w *bedrocktest.Response, r *bedrocktest.Request) {
					w.Delta("Here is ")
					tt.refuse(w)
				})
				var c collect
				p, err := bedrock.New(srv.Client(3), bedrock.Options{DisableStreaming: !streaming}).Generate(t.Context(), request(), c.add)
				checkError(t, err, jobs.KindInvalid, false, tt.wantMsg, "")
				if !errors.Is(err, jobs.ErrRefused) {
					t.Errorf("error %v does not wrap jobs.ErrRefused", err)
				}
				if !strings.HasSuffix(err.Error(), tt.wantMsg+": "+jobs.ErrRefused.Error()) {
					t.Errorf("error %q: the reason is not the whole message", err)
				}
				if p.GeneratedText != "Here is " || p.Tokens != (jobs.Tokens{Input: 20, Output: 5}) || strings.Join(c.deltas, "") != "Here is " {
					t.Errorf("Generate = %+v, deltas %q; want the text and the tokens billed", p, c.deltas)
				}
				if srv.Calls() != 1 {
					t.Errorf("%d calls, want 1", srv.Calls())
				}
			})
		}
	}
}

// A request with a response format sends its schema as Converse's
// outputConfig.textFormat, which the fake endpoint checks is as Bedrock
// takes it, beside the effort; a call that continues the answer sends
// none (the model is held to the schema from its first character).
func TestAResponseFormatIsSentAsTheTextFormat(t *testing.T) {
	t.Parallel()
	const schema = `{"type":"object","properties":{"label":{"enum":["a","b"]}},"required":["label"]}`
	format := &jobs.ResponseFormat{Type: jobs.ResponseFormatJSONSchema, Name: "label", Schema: []byte(schema)}
	tests := []struct {
		name     string
		req      jobs.Request
		schema   string
		schemaOf string
		effort   string
	}{
		{"Haiku 5.5 with its effort", jobs.Request{Model: haiku55, Effort: "medium", ResponseFormat: format}, schema, "label", "medium"},
		{"Haiku 4.5", jobs.Request{Model: modelID, ResponseFormat: format}, schema, "label", ""},
		{"without a name", jobs.Request{Model: modelID, ResponseFormat: &jobs.ResponseFormat{Type: "json_schema", Schema: []byte(schema)}}, schema, "", ""},
		{"a prefilled continuation", jobs.Request{Model: modelID, ResponseFormat: format, Continue: `{"label": `, ContinueBy: catalogue.Prefill}, "", "", ""},
		{"a user-turn continuation", jobs.Request{Model: haiku55, Effort: "medium", ResponseFormat: format, Continue: `{"label": `, ContinueBy: catalogue.UserTurn}, "", "", "medium"},
	}
	for _, tt := range tests {
		for _, streaming := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, streaming %v", tt.name, streaming), func(t *testing.T) {
				t.Parallel()
				var got *bedrocktest.Request
				srv := bedrocktest.NewServer(t, bedrocktest.ModelRules(func(w *bedrocktest.Response, r *bedrocktest.Request) {
					got = r
					w.Answer([]string{`{"label": `, `"a"}`}, "end_turn", 5, 9)
				}))
				req := tt.req
				req.Prompt, req.MaxTokens = "Label it.", 50
				var c collect
				if _, err := bedrock.New(srv.Client(1), bedrock.Options{DisableStreaming: !streaming}).Generate(t.Context(), req, c.add); err != nil {
					t.Fatalf("Generate: %v", err)
				}
				if string(got.Schema) != tt.schema || got.SchemaName != tt.schemaOf || got.Effort != tt.effort {
					t.Errorf("sent schema %s name %q effort %q; want %s, %q, %q (text format %s)",
						got.Schema, got.SchemaName, got.Effort, tt.schema, tt.schemaOf, tt.effort, got.TextFormat)
				}
				if tt.schema == "" && got.TextFormat != nil {
					t.Errorf("a continuing call sent a text format: %s", got.TextFormat)
				}
			})
		}
	}
}
