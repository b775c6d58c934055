package batch

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/catalogue"
)

// readForeign reads one line of a foreign file, as a run does.
func readForeign(t *testing.T, line string, s lineSettings) (inputFormat, Line) {
	t.Helper()
	f := detectFormat([]byte(line))
	lines, err := f.read(strings.NewReader(line+"\n"), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 {
		t.Fatalf("%d lines", len(lines))
	}
	return f, lines[0]
}

func oa(body string) string {
	return `{"custom_id": "c1", "method": "POST", "url": "/v1/chat/completions", "body": ` + body + `}`
}

func an(params string) string { return `{"custom_id": "c1", "params": ` + params + `}` }

func TestAForeignLineBecomesTheRequestItAsks(t *testing.T) {
	t.Parallel()
	haiku45 := "us.anthropic.claude-haiku-4-5-20251001-v1:0"
	tests := []struct {
		name, line string
		format     inputFormat
		model      string // --model
		want       map[string]any
	}{
		{"OpenAI, the guide's example", oa(`{"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hello world!"}], "max_tokens": 1000}`),
			openaiFormat{}, "", map[string]any{"model": catalogue.DefaultModel, "system": "You are a helpful assistant.", "prompt": "Hello world!", "max_tokens": 1000}},
		{"OpenAI, text parts, developer role, max_completion_tokens, a dated model, ignored bookkeeping", oa(`{"model": "claude-haiku-4-5-20251001", "messages": [{"role": "developer", "content": [{"type": "text", "text": "Be brief."}]}, {"role": "user", "name": "ann", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "max_completion_tokens": 50, "temperature": 0.2, "n": 1, "stream": false, "user": "u1", "metadata": {"k": "v"}, "response_format": {"type": "text"}}`),
			openaiFormat{}, "", map[string]any{"model": haiku45, "system": "Be brief.", "prompt": "a\nb", "max_tokens": 50, "temperature": 0.2}},
		{"OpenAI, --model replaces a model the table lacks", oa(`{"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}`),
			openaiFormat{}, "promptq-local", map[string]any{"model": "promptq-local", "prompt": "hi"}},
		{"Anthropic, the guide's example", an(`{"model": "claude-haiku-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hello, world"}]}`),
			anthropicFormat{}, "", map[string]any{"model": haiku45, "prompt": "Hello, world", "max_tokens": 1024}},
		{"Anthropic, system blocks, content blocks, a temperature, metadata", an(`{"model": "promptq-local", "max_tokens": 10, "temperature": 0.5, "metadata": {"user_id": "x"}, "system": [{"type": "text", "text": "S1", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "S2"}], "messages": [{"role": "user", "content": [{"type": "text", "text": "Q"}]}]}`),
			anthropicFormat{}, "", map[string]any{"model": "promptq-local", "system": "S1\nS2", "prompt": "Q", "max_tokens": 10, "temperature": 0.5}},
		{"OpenAI, a JSON schema, strict", oa(`{"messages": [{"role": "user", "content": "Classify: great"}], "response_format": {"type": "json_schema", "json_schema": {"name": "review", "strict": true, "schema": {"type": "object", "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}}, "required": ["sentiment"], "additionalProperties": false}}}}`),
			openaiFormat{}, "", map[string]any{"prompt": "Classify: great", "response_format": map[string]any{"type": "json_schema", "name": "review",
				"schema": map[string]any{"type": "object", "properties": map[string]any{"sentiment": map[string]any{"type": "string", "enum": []any{"positive", "negative"}}}, "required": []any{"sentiment"}, "additionalProperties": false}}}},
		{"OpenAI, a JSON schema with no name", oa(`{"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}, "strict": false}}}`),
			openaiFormat{}, "", map[string]any{"prompt": "x", "response_format": map[string]any{"type": "json_schema", "schema": map[string]any{"type": "object"}}}},
		{"Anthropic, output_config's format and effort", an(`{"max_tokens": 100, "messages": [{"role": "user", "content": "x"}], "output_config": {"effort": "low", "format": {"type": "json_schema", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}}}`),
			anthropicFormat{}, "", map[string]any{"prompt": "x", "max_tokens": 100, "effort": "low", "response_format": map[string]any{"type": "json_schema", "schema": map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "integer"}}}}}},
		{"Anthropic, the beta's output_format", an(`{"model": "promptq-local", "max_tokens": 100, "messages": [{"role": "user", "content": "x"}], "output_format": {"type": "json_schema", "schema": {"type": "array"}}}`),
			anthropicFormat{}, "", map[string]any{"model": "promptq-local", "prompt": "x", "max_tokens": 100, "response_format": map[string]any{"type": "json_schema", "schema": map[string]any{"type": "array"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, l := readForeign(t, tt.line, lineSettings{KeyPrefix: "batch", Model: tt.model})
			if fmt.Sprintf("%T", f) != fmt.Sprintf("%T", tt.format) {
				t.Fatalf("read as %T, want %T", f, tt.format)
			}
			if l.Err != nil {
				t.Fatalf("refused: %+v", l.Err)
			}
			var got map[string]any
			if err := json.Unmarshal(l.Entry, &got); err != nil {
				t.Fatal(err)
			}
			delete(got, "idempotency_key")
			if !equalJSON(t, got, tt.want) || l.ID != "c1" || l.Key != "batch:id:c1" {
				t.Errorf("got %v (id %q, key %q), want %v keyed by custom_id", got, l.ID, l.Key, tt.want)
			}
		})
	}
}

func TestSchemaFileReplacesAForeignLinesSchema(t *testing.T) {
	t.Parallel()
	rf := `{"type":"json_schema","schema":{"type":"string"}}`
	_, l := readForeign(t, an(`{"model": "promptq-local", "messages": [{"role": "user", "content": "x"}], "output_format": {"type": "json_schema", "schema": {"type": "array"}}}`),
		lineSettings{KeyPrefix: "batch", ResponseFormat: json.RawMessage(rf)})
	if l.Err != nil {
		t.Fatalf("refused: %+v", l.Err)
	}
	var got struct {
		ResponseFormat json.RawMessage `json:"response_format"`
	}
	if err := json.Unmarshal(l.Entry, &got); err != nil || string(got.ResponseFormat) != rf || !l.Structured {
		t.Errorf("response_format %s (structured %v), want --schema-file's %s", got.ResponseFormat, l.Structured, rf)
	}
}

func TestWhatAForeignLineCannotMapIsRefusedByName(t *testing.T) {
	t.Parallel()
	user := `"messages": [{"role": "user", "content": "hi"}]`
	tests := []struct {
		name, line, field, says string
	}{
		// OpenAI's lines.
		{"no custom_id", `{"method": "POST", "url": "/v1/chat/completions", "custom_id": null, "body": {}}`, "custom_id", "is required"},
		{"a custom_id not a string", `{"method": "POST", "url": "/v1/chat/completions", "custom_id": 7, "body": {}}`, "custom_id", "must be a string"},
		{"a blank custom_id", `{"custom_id": " ", "method": "POST", "url": "/v1/chat/completions", "body": {}}`, "custom_id", "blank"},
		{"another method", `{"custom_id": "c1", "method": "GET", "url": "/v1/chat/completions", "body": {` + user + `}}`, "method", "POST"},
		{"another url", `{"custom_id": "c1", "method": "POST", "url": "/v1/embeddings", "body": {` + user + `}}`, "url", "chat completions only"},
		{"an unknown line field", `{"custom_id": "c1", "method": "POST", "url": "/v1/chat/completions", "body": {` + user + `}, "extra": 1}`, "extra", "not a field"},
		{"a body that is not an object", `{"custom_id": "c1", "method": "POST", "url": "/v1/chat/completions", "body": "x"}`, "body", "JSON object"},
		{"tools", oa(`{` + user + `, "tools": [{"type": "function"}]}`), "body.tools", "no tools"},
		{"tool_choice", oa(`{` + user + `, "tool_choice": "auto"}`), "body.tool_choice", "no tools"},
		{"functions", oa(`{` + user + `, "functions": []}`), "body.functions", "no tools"},
		{"n of 2", oa(`{` + user + `, "n": 2}`), "body.n", "several choices"},
		{"streaming", oa(`{` + user + `, "stream": true}`), "body.stream", "streaming"},
		{"logprobs", oa(`{` + user + `, "logprobs": true}`), "body.logprobs", "log probabilities"},
		{"JSON mode", oa(`{` + user + `, "response_format": {"type": "json_object"}}`), "body.response_format.type", "json_object"},
		{"a response_format of another type", oa(`{` + user + `, "response_format": {"type": "xml"}}`), "body.response_format.type", `"text" or "json_schema"`},
		{"a response_format that is not an object", oa(`{` + user + `, "response_format": "json"}`), "body.response_format", "JSON object"},
		{"a response_format field promptq lacks", oa(`{` + user + `, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}, "extra": 1}}`), "body.response_format.extra", "no such setting"},
		{"a json_schema that is not an object", oa(`{` + user + `, "response_format": {"type": "json_schema", "json_schema": []}}`), "body.response_format.json_schema", "JSON object"},
		{"a json_schema with no schema", oa(`{` + user + `, "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}`), "body.response_format.json_schema.schema", "required"},
		{"a json_schema description", oa(`{` + user + `, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "description": "d", "schema": {}}}}`), "body.response_format.json_schema.description", "no such setting"},
		{"a strict that is not true or false", oa(`{` + user + `, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": "yes", "schema": {}}}}`), "body.response_format.json_schema.strict", "true or false"},
		{"a schema name with spaces", oa(`{` + user + `, "response_format": {"type": "json_schema", "json_schema": {"name": "my schema", "schema": {}}}}`), "body.response_format.json_schema.name", "letters, digits"},
		{"a schema that refers to a URL", oa(`{` + user + `, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "https://example.com/s.json"}}}}`), "body.response_format.json_schema.schema", "promptq can use"},
		{"a json_schema with text", oa(`{` + user + `, "response_format": {"type": "text", "json_schema": {"name": "x", "schema": {}}}}`), "body.response_format.json_schema", "json_schema"},
		{"an unknown setting", oa(`{` + user + `, "top_p": 0.5}`), "body.top_p", "no such setting"},
		{"an image", oa(`{"messages": [{"role": "user", "content": [{"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}`), "body.messages[0].content[1].type", `"image_url" part`},
		{"audio", oa(`{"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}`), "body.messages[0].content[0].type", "text only"},
		{"a conversation", oa(`{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}`), "body.messages[1].role", "assistant message"},
		{"two user messages", oa(`{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "c"}]}`), "body.messages[1]", "second user message"},
		{"a tool message", oa(`{"messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]}`), "body.messages[1].role", `role "tool"`},
		{"a tool call in a message", oa(`{"messages": [{"role": "user", "content": "a", "tool_calls": []}]}`), "body.messages[0].tool_calls", "cannot be mapped"},
		{"no user message", oa(`{"messages": [{"role": "system", "content": "a"}]}`), "body.messages", "user message is required"},
		{"no messages", oa(`{"messages": []}`), "body.messages", "non-empty list"},
		{"a model the table lacks", oa(`{"model": "gpt-3.5-turbo", ` + user + `}`), "body.model", "--model"},
		{"max_tokens out of range", oa(`{"model": "gpt-4o-mini", ` + user + `, "max_tokens": 0}`), "body.max_tokens", "max_tokens must be"},
		{"max_tokens and max_completion_tokens differ", oa(`{` + user + `, "max_tokens": 5, "max_completion_tokens": 6}`), "body.max_tokens", "give one"},
		{"OpenAI's temperature range", oa(`{"model": "claude-haiku-4-5", ` + user + `, "temperature": 1.5}`), "body.temperature", "from 0 to 1"},
		{"a temperature the mapped model takes none of", oa(`{"model": "gpt-4o-mini", ` + user + `, "temperature": 0.5}`), "body.temperature", "takes no temperature"},
		{"a blank prompt", oa(`{"messages": [{"role": "user", "content": " "}]}`), "body.messages", "blank"},
		// Anthropic's lines.
		{"params not an object", `{"custom_id": "c1", "params": []}`, "params", "JSON object"},
		{"an unknown request field", `{"custom_id": "c1", "params": {` + user + `}, "extra": 1}`, "extra", "not a field"},
		{"Anthropic tools", an(`{` + user + `, "tools": []}`), "params.tools", "no tools"},
		{"Anthropic tool_choice", an(`{` + user + `, "tool_choice": {"type": "auto"}}`), "params.tool_choice", "no tools"},
		{"Anthropic streaming", an(`{` + user + `, "stream": true}`), "params.stream", "streaming"},
		{"Anthropic thinking", an(`{` + user + `, "thinking": {"type": "enabled", "budget_tokens": 1024}}`), "params.thinking", "thinking"},
		{"Anthropic output_config and output_format both", an(`{` + user + `, "output_config": {"format": {"type": "json_schema", "schema": {}}}, "output_format": {"type": "json_schema", "schema": {}}}`), "params.output_format", "give one"},
		{"Anthropic output_config not an object", an(`{` + user + `, "output_config": "json"}`), "params.output_config", "JSON object"},
		{"Anthropic output_config setting promptq lacks", an(`{` + user + `, "output_config": {"task_budget": 5}}`), "params.output_config.task_budget", "no such setting"},
		{"Anthropic output format of another type", an(`{` + user + `, "output_config": {"format": {"type": "text"}}}`), "params.output_config.format.type", "json_schema"},
		{"Anthropic output format field promptq lacks", an(`{` + user + `, "output_config": {"format": {"type": "json_schema", "name": "x", "schema": {}}}}`), "params.output_config.format.name", "no such setting"},
		{"Anthropic output format with no schema", an(`{` + user + `, "output_config": {"format": {"type": "json_schema"}}}`), "params.output_config.format.schema", "required"},
		{"Anthropic beta output format whose schema is not one", an(`{` + user + `, "output_format": {"type": "json_schema", "schema": "a string"}}`), "params.output_format.schema", "schema"},
		{"Anthropic effort promptq lacks", an(`{` + user + `, "output_config": {"effort": "huge"}}`), "params.output_config.effort", "effort"},
		{"Anthropic top_k", an(`{` + user + `, "top_k": 5}`), "params.top_k", "no such setting"},
		{"Anthropic stop_sequences", an(`{` + user + `, "stop_sequences": ["x"]}`), "params.stop_sequences", "no such setting"},
		{"an image block", an(`{"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]}`), "params.messages[0].content[0].type", `"image" part`},
		{"a document block", an(`{"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}`), "params.messages[0].content[0].type", "text only"},
		{"a system block of another type", an(`{` + user + `, "system": [{"type": "image"}]}`), "params.system[0].type", "text only"},
		{"a prefill", an(`{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "The answer is"}]}`), "params.messages[1].role", "prefill"},
		{"a system role in messages", an(`{"messages": [{"role": "system", "content": "a"}, {"role": "user", "content": "b"}]}`), "params.messages[0].role", `role "system"`},
		{"Anthropic, a model the table lacks", an(`{"model": "claude-3-opus-20240229", ` + user + `}`), "params.model", "--model"},
		{"Anthropic max_tokens out of range", an(`{"model": "claude-haiku-4-5", "max_tokens": 999999, ` + user + `}`), "params.max_tokens", "max_tokens must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, l := readForeign(t, tt.line, lineSettings{KeyPrefix: "batch"})
			switch {
			case l.Err == nil:
				t.Fatalf("mapped to %s; want %s refused", l.Entry, tt.field)
			case l.Err.Field != tt.field || !strings.Contains(l.Err.Message, tt.says):
				t.Errorf("refused %+v; want %s refused, saying %q", l.Err, tt.field, tt.says)
			}
		})
	}
}

func TestAForeignFileIsKnownByItsFirstLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data string
		want inputFormat
	}{
		{oa(`{}`), openaiFormat{}},
		{an(`{}`), anthropicFormat{}},
		{`{"prompt": "hi"}`, requestsFormat{}},
		{"\n   \nnot json\n" + an(`{}`), anthropicFormat{}},
		{"", requestsFormat{}},
	}
	for _, tt := range tests {
		if got := detectFormat([]byte(tt.data)); fmt.Sprintf("%T", got) != fmt.Sprintf("%T", tt.want) {
			t.Errorf("%q read as %T, want %T", tt.data, got, tt.want)
		}
	}
}

func TestARepeatedCustomIDIsRefused(t *testing.T) {
	t.Parallel()
	in := oa(`{"messages": [{"role": "user", "content": "a"}]}`) + "\n" + oa(`{"messages": [{"role": "user", "content": "b"}]}`)
	lines, err := openaiFormat{}.read(strings.NewReader(in), lineSettings{KeyPrefix: "batch"})
	if err != nil {
		t.Fatal(err)
	}
	if lines[0].Err != nil || lines[1].Err == nil || lines[1].Err.Field != "custom_id" {
		t.Errorf("lines %+v, %+v; want the second refused for its custom_id", lines[0].Err, lines[1].Err)
	}
}

// foreignFile is n lines of format's input ("openai" or "anthropic") for
// the model, the line at fail asking the fake worker to fail.
func foreignFile(format string, n, fail int, model string) string {
	var b strings.Builder
	for i := range n {
		prompt := fmt.Sprintf("question %d", i)
		if i == fail {
			prompt = "please FAIL"
		}
		if format == "openai" {
			fmt.Fprintf(&b, `{"custom_id": "req-%d", "method": "POST", "url": "/v1/chat/completions", "body": {"model": %q, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": %q}], "max_tokens": 24}}`+"\n", i, model, prompt)
		} else {
			fmt.Fprintf(&b, `{"custom_id": "req-%d", "params": {"model": %q, "max_tokens": 24, "system": "Be brief.", "messages": [{"role": "user", "content": %q}]}}`+"\n", i, model, prompt)
		}
	}
	return b.String()
}

// foreignResult is a line of either format's results, read for the test.
type foreignResult struct {
	ID       string `json:"id"`
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int    `json:"status_code"`
		RequestID  string `json:"request_id"`
		Body       struct {
			Object  string `json:"object"`
			Model   string `json:"model"`
			Created int64  `json:"created"`
			Choices []struct {
				Message struct {
					Role    string `json:"role"`
					Content string `json:"content"`
				} `json:"message"`
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
			Usage struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
				TotalTokens      int `json:"total_tokens"`
			} `json:"usage"`
		} `json:"body"`
	} `json:"response"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Result *struct {
		Type    string `json:"type"`
		Message *struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			Role    string `json:"role"`
			Model   string `json:"model"`
			Content []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"content"`
			StopReason string `json:"stop_reason"`
			Usage      struct {
				InputTokens  int `json:"input_tokens"`
				OutputTokens int `json:"output_tokens"`
			} `json:"usage"`
		} `json:"message"`
		Error *struct {
			Type  string `json:"type"`
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"error"`
	} `json:"result"`
}

func readForeignResults(t *testing.T, path string) []foreignResult {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []foreignResult
	for line := range strings.Lines(string(data)) {
		var r foreignResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("results line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func TestAForeignFileRunsAndAnswersInItsOwnShape(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"openai", "anthropic"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			dir := t.TempDir()
			o := a.options(t, writeFile(t, dir, format+".jsonl", foreignFile(format, 30, 4, "gpt-4o-mini")), nil)
			o.Model = "promptq-local" // gpt-4o-mini maps to a model this API does not allow
			// Without --wait: these formats always wait.
			if _, err := Run(t.Context(), o); err != nil {
				t.Fatal(err)
			}
			first, err := os.ReadFile(o.Output)
			if err != nil {
				t.Fatal(err)
			}
			res := readForeignResults(t, o.Output)
			if len(res) != 30 {
				t.Fatalf("%d results, want 30", len(res))
			}
			for i, r := range res {
				if r.CustomID != fmt.Sprintf("req-%d", i) {
					t.Fatalf("result %d is %s: not in input order", i, r.CustomID)
				}
				checkForeignResult(t, format, r, i == 4, fmt.Sprintf("echo: question %d", i))
			}

			calls := a.batchCalls.Load()
			if _, err := Run(t.Context(), o); err != nil {
				t.Fatal(err)
			}
			again, _ := os.ReadFile(o.Output)
			if a.batchCalls.Load() != calls || len(a.jobsOf(t, "alice")) != 30 || string(again) != string(first) {
				t.Errorf("the second run sent %d batch calls (the store has %d jobs) or wrote other results", a.batchCalls.Load()-calls, len(a.jobsOf(t, "alice")))
			}
		})
	}
}

// checkForeignResult checks one result of format: failed, or succeeded
// with a text starting with want.
func checkForeignResult(t *testing.T, format string, r foreignResult, failed bool, want string) {
	t.Helper()
	switch {
	case format == "openai" && failed:
		if r.Response != nil || r.Error == nil || r.Error.Code != "model_error" || r.Error.Message == "" {
			t.Errorf("%s: %+v, want an error and no response", r.CustomID, r)
		}
	case format == "openai":
		b := r.Response.Body
		if r.Error != nil || r.Response.StatusCode != 200 || r.Response.RequestID == "" || r.ID != "batch_req_"+r.Response.RequestID ||
			b.Object != "chat.completion" || b.Model != "promptq-local" || b.Created == 0 || len(b.Choices) != 1 ||
			b.Choices[0].Message.Role != "assistant" || !strings.HasPrefix(b.Choices[0].Message.Content, want) || (b.Choices[0].FinishReason != "stop" && b.Choices[0].FinishReason != "length") ||
			b.Usage.CompletionTokens == 0 || b.Usage.TotalTokens != b.Usage.PromptTokens+b.Usage.CompletionTokens {
			t.Errorf("%s: %+v", r.CustomID, r)
		}
	case failed:
		if r.Result == nil || r.Result.Type != "errored" || r.Result.Error == nil || r.Result.Error.Type != "error" || r.Result.Error.Error.Type != "api_error" || r.Result.Error.Error.Message == "" {
			t.Errorf("%s: %+v, want errored", r.CustomID, r.Result)
		}
	default:
		m := r.Result.Message
		if r.Result.Type != "succeeded" || m == nil || m.Type != "message" || m.Role != "assistant" || m.Model != "promptq-local" || !strings.HasPrefix(m.ID, "msg_") ||
			len(m.Content) != 1 || m.Content[0].Type != "text" || !strings.HasPrefix(m.Content[0].Text, want) || (m.StopReason != "end_turn" && m.StopReason != "max_tokens") || m.Usage.OutputTokens == 0 {
			t.Errorf("%s: %+v", r.CustomID, r.Result)
		}
	}
}

func TestAForeignFileWithALineThatCannotBeMappedSendsNothing(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	dir := t.TempDir()
	in := foreignFile("openai", 3, -1, "promptq-local") + oa(`{"messages": [{"role": "user", "content": "a"}], "tools": []}`) + "\n"
	o := a.options(t, writeFile(t, dir, "in.jsonl", in), nil)
	_, err := Run(t.Context(), o)
	if err == nil || !strings.Contains(err.Error(), `line 4 (id "c1"): body.tools: cannot be mapped`) {
		t.Fatalf("error %v, want line 4's tools named", err)
	}
	if n := a.batchCalls.Load(); n != 0 {
		t.Errorf("%d batch calls; want none", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "results.jsonl")); err == nil {
		t.Error("a results file was written")
	}
}
