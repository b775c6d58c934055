package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/jobs"
)

// The batch files people already have: OpenAI's Batch API input and
// Anthropic's Message Batches input, read unchanged (openai.go,
// anthropic.go). A line asks for one chat completion or one message; the
// batch tool maps what promptq can run (a system prompt and one user
// prompt of text, max_tokens, temperature, a JSON schema for the answer,
// the model through catalogue.ForeignModels or --model) and refuses the rest by name,
// before anything is sent. custom_id keys each line, as a line's id does
// (batch:id:<custom_id>). The results are written in the file's own
// output shape, in input order (both providers' are in any order and
// matched by custom_id, so input order is one of them).
//
// Which format a file is: the first line that is a JSON object says. With
// "custom_id" and "params", Anthropic's; with "custom_id" otherwise,
// OpenAI's; without "custom_id", promptq's own requests.

// detectFormat chooses the format of a JSONL file of requests.
func detectFormat(data []byte) inputFormat {
	for line := range bytes.Lines(data) {
		var fields map[string]json.RawMessage
		if json.Unmarshal(line, &fields) != nil || fields == nil {
			continue
		}
		_, custom := fields["custom_id"]
		_, params := fields["params"]
		switch {
		case custom && params:
			return anthropicFormat{}
		case custom:
			return openaiFormat{}
		}
		return requestsFormat{}
	}
	return requestsFormat{}
}

// foreignShape is how a foreign format's lines are read: each a JSON
// object of the given fields, keyed by its custom_id, the rest mapped by
// mapLine.
type foreignShape struct {
	what    string   // what a line is, for a refusal
	fields  []string // the line's fields, custom_id among them
	names   names
	mapLine func(top map[string]json.RawMessage, f *foreignRequest) *ErrorInfo
}

func (sh foreignShape) read(r io.Reader, s lineSettings) ([]Line, error) {
	var lines []Line
	err := scanJSONL(r, func(n int, text []byte) { lines = append(lines, sh.line(n, text, s)) })
	if err != nil {
		return nil, err
	}
	refuseRepeatedIDs(lines, "custom_id")
	return lines, nil
}

func (sh foreignShape) line(n int, text []byte, s lineSettings) Line {
	top, bad := jsonObject(text, "line")
	if bad != nil {
		return Line{N: n, Err: bad}
	}
	id, bad := customID(top["custom_id"])
	fail := func(e *ErrorInfo) Line { return Line{N: n, ID: id, Err: e} }
	if bad != nil {
		return fail(bad)
	}
	for k := range top {
		if !slices.Contains(sh.fields, k) {
			return fail(refusal(k, "is not a field of %s.", sh.what))
		}
	}
	f := foreignRequest{customID: id}
	if bad := sh.mapLine(top, &f); bad != nil {
		return fail(bad)
	}
	return f.line(n, s, sh.names)
}

// foreignRequest is a line of a foreign file in promptq's terms.
type foreignRequest struct {
	customID    string
	model       string   // the file's name for it; "" if none
	system      []string // the system prompts, in order
	prompt      *string  // the one user prompt
	maxTokens   json.RawMessage
	temperature json.RawMessage
	effort      json.RawMessage
	// responseFormat is the line's schema as promptq's response_format
	// (nil for none); formatNames what the file calls its fields.
	responseFormat json.RawMessage
	formatNames    names
}

// names are what a foreign file calls promptq's request fields, so a
// refusal names the file's field.
type names map[string]string

// refusal is an error naming the field of a line that cannot be mapped.
func refusal(field, format string, a ...any) *ErrorInfo {
	return &ErrorInfo{Code: "invalid_request", Field: field, Message: field + ": " + fmt.Sprintf(format, a...)}
}

// line makes the promptq request of a mapped line.
func (f foreignRequest) line(n int, s lineSettings, nm names) Line {
	fail := func(e *ErrorInfo) Line { return Line{N: n, ID: f.customID, Err: e} }
	if f.prompt == nil {
		return fail(refusal(nm["prompt"], "a user message is required: promptq runs one user prompt."))
	}
	fields := map[string]json.RawMessage{"prompt": jsonText(*f.prompt)}
	if len(f.system) > 0 {
		fields["system"] = jsonText(strings.Join(f.system, "\n\n"))
	}
	if f.maxTokens != nil {
		fields["max_tokens"] = f.maxTokens
	}
	if f.temperature != nil {
		fields["temperature"] = f.temperature
	}
	if f.effort != nil {
		fields["effort"] = f.effort
	}
	if f.responseFormat != nil {
		fields["response_format"] = f.responseFormat
	}
	if s.Model == "" && f.model != "" {
		id, ok := catalogue.MapForeign(f.model)
		if !ok {
			return fail(refusal(nm["model"], "model %q has no promptq model in the batch tool's table (README, internal/catalogue's ForeignModels): choose one with --model.", f.model))
		}
		fields["model"] = jsonText(id)
	}
	l := newLine(n, f.customID, fields, s)
	if l.Err != nil {
		if field, ok := f.formatNames[l.Err.Field]; ok {
			l.Err.Field = field
		} else if field, ok := nm[l.Err.Field]; ok {
			l.Err.Field = field
		}
	}
	return l
}

// setFormat sets the line's response_format: the schema (raw JSON, nil if
// the file gave none, which DecodeRequest refuses by name) and its name
// (nil for none). names says what the file calls promptq's fields of it.
func (f *foreignRequest) setFormat(schema, name json.RawMessage, nm names) *ErrorInfo {
	if f.responseFormat != nil {
		return refusal(nm["response_format"], "a second schema for the answer: give one.")
	}
	rf := map[string]json.RawMessage{"type": jsonText(jobs.ResponseFormatJSONSchema)}
	if schema != nil {
		rf["schema"] = schema
	}
	if name != nil {
		rf["name"] = name
	}
	f.responseFormat, f.formatNames = jsonText(rf), nm
	return nil
}

// onlyFields refuses a field of obj (a part of a line named at) that is
// not one of known.
func onlyFields(obj map[string]json.RawMessage, at string, known ...string) *ErrorInfo {
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(known, k) {
			return refusal(at+"."+k, "cannot be mapped: promptq has no such setting.")
		}
	}
	return nil
}

// mapFields maps a request object's fields (OpenAI's body, Anthropic's
// params) into f, in key order: model, temperature, stream and tools mean
// the same in both; own maps the format's other fields, answering false
// for one it does not know. A field not known is dropped if it is one of
// ignored, else refused.
func (f *foreignRequest) mapFields(obj map[string]json.RawMessage, prefix string, ignored []string,
	own func(k string, v json.RawMessage, field string) (known bool, bad *ErrorInfo)) *ErrorInfo {
	for _, k := range sortedKeys(obj) {
		v, field := obj[k], prefix+k
		known, bad := true, (*ErrorInfo)(nil)
		switch k {
		case "model":
			if json.Unmarshal(v, &f.model) != nil {
				bad = refusal(field, "must be a string.")
			}
		case "temperature":
			f.temperature = v
		case "stream":
			if string(v) != "false" {
				bad = refusal(field, "streaming cannot be mapped: a batch's answers are read when done.")
			}
		case "tools", "tool_choice":
			bad = refusal(field, "cannot be mapped: promptq runs no tools.")
		default:
			known, bad = own(k, v, field)
		}
		if bad != nil {
			return bad
		}
		if !known && !slices.Contains(ignored, k) {
			return refusal(field, "cannot be mapped: promptq has no such setting.")
		}
	}
	return nil
}

// sortedKeys are m's keys in order, so a line with several faults is
// refused for the same one every run.
func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// customID reads a line's custom_id: a non-blank string.
func customID(raw json.RawMessage) (string, *ErrorInfo) {
	var id string
	if raw == nil || string(raw) == "null" {
		return "", refusal("custom_id", "is required: it keys the line and its result.")
	}
	if err := json.Unmarshal(raw, &id); err != nil {
		return "", refusal("custom_id", "must be a string.")
	}
	if strings.TrimSpace(id) == "" {
		return "", refusal("custom_id", "must not be blank.")
	}
	return id, nil
}

// jsonObject decodes a line (or part of one) that must be a JSON object.
func jsonObject(raw []byte, field string) (map[string]json.RawMessage, *ErrorInfo) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, refusal(field, "must be a JSON object.")
	}
	return m, nil
}

// textContent is a message's content as text: a string, or a list of
// text parts ({"type": "text", "text": ...}: OpenAI's content parts,
// Anthropic's text blocks) joined by newlines. A part of any other type
// (an image, audio, a file, a tool's) is refused by name: promptq sends
// text only.
func textContent(raw json.RawMessage, field string) (string, *ErrorInfo) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", refusal(field, "must be a string or a list of text parts.")
	}
	texts := make([]string, 0, len(parts))
	for i, p := range parts {
		switch {
		case p.Type != "text":
			return "", refusal(fmt.Sprintf("%s[%d].type", field, i), "a %q part cannot be mapped: promptq sends text only.", p.Type)
		case p.Text == nil:
			return "", refusal(fmt.Sprintf("%s[%d].text", field, i), "a text part needs its text.")
		}
		texts = append(texts, *p.Text)
	}
	return strings.Join(texts, "\n"), nil
}

// messages reads a messages list into f: system (or developer) turns
// where the format takes them in the list, and exactly one user turn. An
// assistant turn (a conversation, or a prefill) and every other role are
// refused: a promptq job is a system prompt and one user prompt.
func (f *foreignRequest) messages(raw json.RawMessage, field string, systemRoles []string, ignored ...string) *ErrorInfo {
	var msgs []json.RawMessage
	if err := json.Unmarshal(raw, &msgs); err != nil || len(msgs) == 0 {
		return refusal(field, "must be a non-empty list of messages.")
	}
	for i, m := range msgs {
		at := fmt.Sprintf("%s[%d]", field, i)
		fields, bad := jsonObject(m, at)
		if bad != nil {
			return bad
		}
		for k := range fields {
			if k != "role" && k != "content" && !slices.Contains(ignored, k) {
				return refusal(at+"."+k, "cannot be mapped: a message is its role and its text.")
			}
		}
		var role string
		if err := json.Unmarshal(fields["role"], &role); err != nil {
			return refusal(at+".role", "must be a string.")
		}
		if fields["content"] == nil {
			return refusal(at+".content", "is required.")
		}
		text, bad := textContent(fields["content"], at+".content")
		if bad != nil {
			return bad
		}
		switch {
		case slices.Contains(systemRoles, role):
			f.system = append(f.system, text)
		case role == "user" && f.prompt != nil:
			return refusal(at, "a second user message cannot be mapped: promptq runs one user prompt, not a conversation.")
		case role == "user":
			f.prompt = &text
		case role == "assistant":
			return refusal(at+".role", "an assistant message (a conversation, or a prefill) cannot be mapped: promptq runs one user prompt and a system prompt.")
		default:
			return refusal(at+".role", "role %q cannot be mapped: promptq takes %s and one user message.", role, strings.Join(systemRoles, " or "))
		}
	}
	return nil
}

// errorInfoOf is a result's error, or one saying why the line has none.
func errorInfoOf(res Result) ErrorInfo {
	if res.Error != nil {
		return *res.Error
	}
	return ErrorInfo{Code: res.Status, Message: fmt.Sprintf("The job is %s.", res.Status)}
}

// inputTokens is what a job's input counted, cache reads and writes
// included (promptq counts them apart, as Bedrock does).
func inputTokens(t *jobs.Tokens) int {
	if t == nil {
		return 0
	}
	return t.Input + t.CacheRead + t.CacheWrite
}
