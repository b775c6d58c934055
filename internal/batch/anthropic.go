package batch

import (
	"bytes"
	"encoding/json"
	"io"
)

// anthropicFormat is Anthropic's Message Batches input, one request a
// line (a "requests" entry of POST /v1/messages/batches, as JSONL):
//
//	{"custom_id": "r1", "params": {"model": "claude-haiku-4-5", "max_tokens": 200,
//	 "system": "...", "messages": [{"role": "user", "content": "..."}]}}
//
// (https://platform.claude.com/docs/en/build-with-claude/batch-processing;
// https://platform.claude.com/docs/en/api/creating-message-batches). The
// results are its results shape, one line a request
// (https://platform.claude.com/docs/en/api/retrieving-message-batch-results):
//
//	{"custom_id": "r1", "result": {"type": "succeeded", "message": {"id", "type": "message",
//	 "role": "assistant", "model", "content": [{"type": "text", "text"}],
//	 "stop_reason", "stop_sequence": null, "usage": {"input_tokens", "output_tokens", ...}}}}
//
// a cancelled job as {"type": "canceled"}, and any other request without
// a message as {"type": "errored", "error": {"type": "error", "error":
// {"type", "message"}}}, Anthropic's error response.
type anthropicFormat struct{}

// anthropicIgnored are params that say who asked or how the request is
// billed or cached, not what to answer: they are ignored.
var anthropicIgnored = []string{"metadata", "service_tier"}

var anthropicNames = names{"prompt": "params.messages", "system": "params.system", "model": "params.model",
	"max_tokens": "params.max_tokens", "temperature": "params.temperature", "effort": "params.output_config.effort"}

func (anthropicFormat) strict() bool { return true }

func (anthropicFormat) read(r io.Reader, s lineSettings) ([]Line, error) {
	return foreignShape{what: "an Anthropic batch request", fields: []string{"custom_id", "params"},
		names: anthropicNames, mapLine: anthropicLine}.read(r, s)
}

// anthropicLine maps a request's params.
func anthropicLine(top map[string]json.RawMessage, f *foreignRequest) *ErrorInfo {
	params, bad := jsonObject(top["params"], "params")
	if bad != nil {
		return bad
	}
	return f.anthropicParams(params)
}

// anthropicParams maps a Messages API request's params.
func (f *foreignRequest) anthropicParams(params map[string]json.RawMessage) *ErrorInfo {
	return f.mapFields(params, "params.", anthropicIgnored, func(k string, v json.RawMessage, field string) (bool, *ErrorInfo) {
		switch k {
		case "messages":
			return true, f.messages(v, field, nil)
		case "system":
			text, bad := textContent(v, field)
			f.system = append(f.system, text)
			return true, bad
		case "max_tokens":
			f.maxTokens = v
		case "mcp_servers", "container":
			return true, refusal(field, "cannot be mapped: promptq runs no tools.")
		case "output_format":
			return true, f.anthropicFormat(v, field)
		case "output_config":
			return true, f.anthropicOutputConfig(v, field)
		case "thinking":
			return true, refusal(field, "cannot be mapped: promptq chooses the model's thinking (off where the model allows).")
		default:
			return false, nil
		}
		return true, nil
	})
}

// anthropicOutputConfig maps a request's output_config: format, a JSON
// output's schema, {"type": "json_schema", "schema": {...}}, is promptq's
// response_format, and effort its effort (the same levels). The beta's
// top-level output_format, which output_config.format replaced, is mapped
// alike (anthropicFormat). Both are described on
// https://platform.claude.com/docs/en/build-with-claude/structured-outputs
// ("JSON outputs (output_config.format)"; "Migrating from beta? The
// output_format parameter has moved to output_config.format") and
// https://platform.claude.com/docs/en/api/messages (output_config).
func (f *foreignRequest) anthropicOutputConfig(v json.RawMessage, field string) *ErrorInfo {
	cfg, bad := jsonObject(v, field)
	if bad != nil {
		return bad
	}
	if bad := onlyFields(cfg, field, "format", "effort"); bad != nil {
		return bad
	}
	if e, ok := cfg["effort"]; ok && string(e) != "null" {
		f.effort = e
	}
	if fm, ok := cfg["format"]; ok && string(fm) != "null" {
		return f.anthropicFormat(fm, field+".format")
	}
	return nil
}

// anthropicFormat maps a JSON output format, {"type": "json_schema",
// "schema": {...}} (output_config.format, or the beta's output_format).
func (f *foreignRequest) anthropicFormat(v json.RawMessage, field string) *ErrorInfo {
	fm, bad := jsonObject(v, field)
	if bad != nil {
		return bad
	}
	if bad := onlyFields(fm, field, "type", "schema"); bad != nil {
		return bad
	}
	var typ string
	if json.Unmarshal(fm["type"], &typ) != nil || typ != "json_schema" {
		return refusal(field+".type", `must be "json_schema".`)
	}
	return f.setFormat(fm["schema"], nil, names{"response_format": field, "response_format.schema": field + ".schema"})
}

type anthropicOutput struct {
	CustomID string          `json:"custom_id"`
	Result   anthropicResult `json:"result"`
}

type anthropicResult struct {
	Type    string            `json:"type"`
	Message *anthropicMessage `json:"message,omitempty"`
	Error   *anthropicError   `json:"error,omitempty"`
}

// anthropicMessage is a Message object
// (https://platform.claude.com/docs/en/api/messages).
type anthropicMessage struct {
	ID           string           `json:"id"`
	Type         string           `json:"type"`
	Role         string           `json:"role"`
	Model        string           `json:"model"`
	Content      []anthropicBlock `json:"content"`
	StopReason   string           `json:"stop_reason"`
	StopSequence *string          `json:"stop_sequence"`
	Usage        anthropicUsage   `json:"usage"`
}

type anthropicBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
}

// anthropicError is Anthropic's error response: {"type": "error",
// "error": {"type", "message"}}.
type anthropicError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// anthropicErrorType is Anthropic's error type for a promptq error code
// (https://platform.claude.com/docs/en/api/errors).
func anthropicErrorType(code string) string {
	switch code {
	case "invalid_request", "payload_too_large", "conflict":
		return "invalid_request_error"
	case "rate_limited":
		return "rate_limit_error"
	case "not_found", "missing":
		return "not_found_error"
	}
	return "api_error"
}

// anthropicStop is Anthropic's stop_reason for a job's (Bedrock's) one.
func anthropicStop(stop string) string {
	switch stop {
	case "guardrail_intervened", "content_filtered":
		return "refusal"
	case "":
		return "end_turn"
	}
	return stop
}

func (anthropicFormat) encode(results []Result) ([]byte, error) {
	var buf bytes.Buffer
	for _, res := range results {
		out := anthropicOutput{CustomID: res.ID}
		switch {
		case res.Status == "succeeded" && res.GeneratedText != nil:
			m := &anthropicMessage{ID: "msg_" + res.JobID, Type: "message", Role: "assistant", Model: res.Model,
				Content:    []anthropicBlock{{Type: "text", Text: *res.GeneratedText}},
				StopReason: anthropicStop(res.StopReason)}
			if t := res.Tokens; t != nil {
				m.Usage = anthropicUsage{InputTokens: t.Input, OutputTokens: t.Output,
					CacheReadInputTokens: t.CacheRead, CacheCreationInputTokens: t.CacheWrite}
			}
			out.Result = anthropicResult{Type: "succeeded", Message: m}
		case res.Status == "cancelled":
			out.Result = anthropicResult{Type: "canceled"}
		default:
			e := errorInfoOf(res)
			ae := &anthropicError{Type: "error"}
			ae.Error.Type, ae.Error.Message = anthropicErrorType(e.Code), e.Message
			out.Result = anthropicResult{Type: "errored", Error: ae}
		}
		buf.Write(jsonText(out))
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}
