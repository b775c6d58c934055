package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/uuid"
)

// openaiFormat is OpenAI's Batch API input, one request a line:
//
//	{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
//	 "body": {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "..."},
//	          {"role": "user", "content": "..."}], "max_tokens": 200}}
//
// (https://platform.openai.com/docs/api-reference/batch/request-input;
// https://platform.openai.com/docs/guides/batch). The results are its
// output shape, one line a request
// (https://platform.openai.com/docs/api-reference/batch/request-output,
// the BatchRequestOutput schema of OpenAI's OpenAPI spec):
//
//	{"id": "batch_req_<job>", "custom_id": "r1",
//	 "response": {"status_code": 200, "request_id": "<job>", "body": <a chat.completion>},
//	 "error": null}
//
// and, for a request that has no completion (failed, cancelled, refused
// by the API, never sent), "response": null and "error": {"code",
// "message"}, as OpenAI's error file has for requests that failed
// without an HTTP answer.
type openaiFormat struct{}

// openaiURL is the one endpoint promptq can answer.
const openaiURL = "/v1/chat/completions"

// openaiIgnored are body fields that say who asked or how OpenAI stores
// and bills the request, not what to answer: they are ignored.
var openaiIgnored = []string{"user", "metadata", "store", "service_tier", "safety_identifier", "prompt_cache_key"}

// openaiNames are what the file calls promptq's request fields.
var openaiNames = names{"prompt": "body.messages", "system": "body.messages", "model": "body.model",
	"max_tokens": "body.max_tokens", "temperature": "body.temperature"}

func (openaiFormat) strict() bool { return true }

func (openaiFormat) read(r io.Reader, s lineSettings) ([]Line, error) {
	return foreignShape{what: "an OpenAI batch line", fields: []string{"custom_id", "method", "url", "body"},
		names: openaiNames, mapLine: openaiLine}.read(r, s)
}

// openaiLine maps a line's method, url and body.
func openaiLine(top map[string]json.RawMessage, f *foreignRequest) *ErrorInfo {
	var method, url string
	if json.Unmarshal(top["method"], &method) != nil || method != "POST" {
		return refusal("method", `must be "POST".`)
	}
	if json.Unmarshal(top["url"], &url) != nil || url != openaiURL {
		return refusal("url", "must be %q: promptq answers chat completions only.", openaiURL)
	}
	body, bad := jsonObject(top["body"], "body")
	if bad != nil {
		return bad
	}
	return f.openaiBody(body)
}

// openaiBody maps a chat completion request's body.
func (f *foreignRequest) openaiBody(body map[string]json.RawMessage) *ErrorInfo {
	return f.mapFields(body, "body.", openaiIgnored, func(k string, v json.RawMessage, field string) (bool, *ErrorInfo) {
		switch k {
		case "messages":
			return true, f.messages(v, field, []string{"system", "developer"}, "name")
		case "max_tokens", "max_completion_tokens":
			if f.maxTokens != nil && !bytes.Equal(f.maxTokens, v) {
				return true, refusal(field, "differs from the other of max_tokens and max_completion_tokens: give one.")
			}
			f.maxTokens = v
		case "n":
			if string(v) != "1" {
				return true, refusal(field, "several choices cannot be mapped: a promptq job writes one answer.")
			}
		case "logprobs":
			if string(v) != "false" {
				return true, refusal(field, "cannot be mapped: promptq's models give no log probabilities.")
			}
		case "response_format":
			return true, f.openaiResponseFormat(v, field)
		case "functions", "function_call", "parallel_tool_calls":
			return true, refusal(field, "cannot be mapped: promptq runs no tools.")
		default:
			return false, nil
		}
		return true, nil
	})
}

// openaiResponseFormat maps a chat completion's response_format: {"type":
// "text"} is none, and {"type": "json_schema", "json_schema": {"name",
// "schema", "strict"}} promptq's response_format of that name and schema
// (https://platform.openai.com/docs/api-reference/chat/create#chat-create-response_format;
// https://platform.openai.com/docs/guides/structured-outputs). strict,
// true or false, changes nothing: promptq always holds the answer to the
// schema. JSON mode ({"type": "json_object"}), with no schema, cannot be
// held to anything and is refused.
func (f *foreignRequest) openaiResponseFormat(v json.RawMessage, field string) *ErrorInfo {
	rf, bad := jsonObject(v, field)
	if bad != nil {
		return bad
	}
	if bad := onlyFields(rf, field, "type", "json_schema"); bad != nil {
		return bad
	}
	var typ string
	_ = json.Unmarshal(rf["type"], &typ)
	switch typ {
	case "text":
		if rf["json_schema"] != nil {
			return refusal(field+".json_schema", `goes with "type": "json_schema".`)
		}
		return nil
	case "json_schema":
	case "json_object":
		return refusal(field+".type", `"json_object" (JSON of no schema) cannot be mapped: promptq writes JSON to a schema; give "json_schema" and the schema.`)
	default:
		return refusal(field+".type", `must be "text" or "json_schema".`)
	}
	at := field + ".json_schema"
	js, bad := jsonObject(rf["json_schema"], at)
	if bad != nil {
		return bad
	}
	if bad := onlyFields(js, at, "name", "schema", "strict"); bad != nil {
		return bad
	}
	if s, ok := js["strict"]; ok && string(s) != "true" && string(s) != "false" && string(s) != "null" {
		return refusal(at+".strict", "must be true or false.")
	}
	return f.setFormat(js["schema"], js["name"], names{"response_format": field, "response_format.type": field + ".type",
		"response_format.name": at + ".name", "response_format.schema": at + ".schema"})
}

// openaiOutput is a line of OpenAI's batch output (BatchRequestOutput).
type openaiOutput struct {
	ID       string          `json:"id"`
	CustomID string          `json:"custom_id"`
	Response *openaiResponse `json:"response"`
	Error    *openaiError    `json:"error"`
}

type openaiResponse struct {
	StatusCode int            `json:"status_code"`
	RequestID  string         `json:"request_id"`
	Body       openaiChatBody `json:"body"`
}

type openaiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// openaiChatBody is a chat.completion object
// (https://platform.openai.com/docs/api-reference/chat/object).
type openaiChatBody struct {
	ID      string         `json:"id"`
	Object  string         `json:"object"`
	Created int64          `json:"created"`
	Model   string         `json:"model"`
	Choices []openaiChoice `json:"choices"`
	Usage   openaiUsage    `json:"usage"`
}

type openaiChoice struct {
	Index        int           `json:"index"`
	Message      openaiMessage `json:"message"`
	Logprobs     *struct{}     `json:"logprobs"`
	FinishReason string        `json:"finish_reason"`
}

type openaiMessage struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type openaiUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// openaiFinish is OpenAI's finish_reason for a job's stop_reason
// (Bedrock's: end_turn, max_tokens, stop_sequence, guardrail_intervened,
// content_filtered).
func openaiFinish(stop string) string {
	switch stop {
	case "max_tokens":
		return "length"
	case "guardrail_intervened", "content_filtered":
		return "content_filter"
	}
	return "stop"
}

func (openaiFormat) encode(results []Result) ([]byte, error) {
	var buf bytes.Buffer
	for _, res := range results {
		out := openaiOutput{ID: fmt.Sprintf("batch_req_line_%d", res.Line), CustomID: res.ID}
		if res.JobID != "" {
			out.ID = "batch_req_" + res.JobID
		}
		if res.Status == "succeeded" && res.GeneratedText != nil {
			var created int64
			if u, err := uuid.Parse(res.JobID); err == nil {
				created, _ = u.Time().UnixTime() // a job id is a UUIDv7: its creation time
			}
			var tok openaiUsage
			if res.Tokens != nil {
				tok = openaiUsage{PromptTokens: inputTokens(res.Tokens), CompletionTokens: res.Tokens.Output}
				tok.TotalTokens = tok.PromptTokens + tok.CompletionTokens
			}
			out.Response = &openaiResponse{StatusCode: 200, RequestID: res.JobID, Body: openaiChatBody{
				ID: "chatcmpl-" + res.JobID, Object: "chat.completion", Created: created, Model: res.Model,
				Choices: []openaiChoice{{Message: openaiMessage{Role: "assistant", Content: *res.GeneratedText},
					FinishReason: openaiFinish(res.StopReason)}},
				Usage: tok,
			}}
		} else {
			e := errorInfoOf(res)
			out.Error = &openaiError{Code: e.Code, Message: e.Message}
		}
		buf.Write(jsonText(out))
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}
