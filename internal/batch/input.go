package batch

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/promptq/promptq/internal/jobs"
)

// Line is one request of the input file.
type Line struct {
	N     int    // 1-based line number in the file
	ID    string // the line's "id", or ""
	Key   string // the idempotency key sent with it
	Sum   string // hash of the request's fields, to match state records
	Entry []byte // the batch entry to send: the request fields and idempotency_key
	// Structured: the request asks for JSON to a schema (response_format),
	// so its finished job has a generated_json.
	Structured bool
	// Err is why the line is refused without asking the API (bad JSON, a
	// missing prompt, a repeated id...). Such lines are reported, never sent.
	Err *ErrorInfo
}

// ErrorInfo is an error as the results file and the API carry it.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// localLimits are the checks made before anything is sent. The limits a
// deployment may configure differently (the model allow-list, prompt and
// system lengths) are left to the server, whose verdict is final; the
// fixed ones of docs/openapi.yaml (types, unknown fields, a blank prompt,
// max_tokens, temperature) are checked here so such lines cost no call.
func localLimits(model string) jobs.Limits {
	l := jobs.DefaultLimits()
	l.MaxPromptChars = math.MaxInt32
	l.MaxSystemChars = math.MaxInt32
	if model != "" {
		l.Models = append(l.Models, model)
	}
	return l
}

// maxLineBytes bounds one input line: a batch body may be at most 5 MiB,
// so a longer line could never be sent.
const maxLineBytes = 5 << 20

// lineSettings apply to every line of a file: the key prefix, and what the
// command line sets for every request (--model, --max-tokens,
// --schema-file).
type lineSettings struct {
	KeyPrefix string
	Model     string // every request's model, replacing the file's; "" keeps it
	MaxTokens int    // max_tokens of a request that sets none; 0: the API's default
	// ResponseFormat is every request's response_format (readSchema's),
	// replacing the file's; nil keeps it.
	ResponseFormat json.RawMessage
}

// ReadInput reads a JSONL file of requests in promptq's own shape (one
// POST /generate body a line, with an optional "id"). Blank lines are
// skipped; invalid ones come back with Err set. The error is for the file
// itself (unreadable, a line too long).
func ReadInput(r io.Reader, keyPrefix string) ([]Line, error) {
	return readRequests(r, lineSettings{KeyPrefix: keyPrefix})
}

func readRequests(r io.Reader, s lineSettings) ([]Line, error) {
	var lines []Line
	err := scanJSONL(r, func(n int, text []byte) {
		lines = append(lines, parseLine(n, text, s))
	})
	if err != nil {
		return nil, err
	}
	refuseRepeatedIDs(lines, "id")
	return lines, nil
}

// scanJSONL calls line for every non-blank line of r with its 1-based
// number and its text, trimmed of spaces.
func scanJSONL(r io.Reader, line func(n int, text []byte)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes+1)
	n := 0
	for sc.Scan() {
		n++
		if text := bytes.TrimSpace(sc.Bytes()); len(text) > 0 {
			line(n, text)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d is longer than %d bytes, the most one batch request can carry", n+1, maxLineBytes)
		}
		return fmt.Errorf("read input: %w", err)
	}
	return nil
}

// refuseRepeatedIDs refuses every line whose id an earlier line has: an id
// keys its line's idempotency key, so two lines with one id would be one
// job. field is what the file calls the id.
func refuseRepeatedIDs(lines []Line, field string) {
	first := map[string]int{}
	for i, l := range lines {
		if l.Err != nil || l.ID == "" {
			continue
		}
		if n, ok := first[l.ID]; ok {
			lines[i].Err = &ErrorInfo{Code: "invalid_request", Field: field,
				Message: fmt.Sprintf("%s %q repeats line %d; ids must be unique in a file.", field, l.ID, n)}
			continue
		}
		first[l.ID] = l.N
	}
}

func parseLine(n int, text []byte, s lineSettings) Line {
	var id string // kept in a refused line's result once known
	fail := func(err error) Line { return Line{N: n, ID: id, Err: errorInfo(err)} }
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(text, &fields); err != nil || fields == nil {
		return fail(jobs.Invalid("body", "The line is not a JSON object."))
	}
	if raw, ok := fields["id"]; ok {
		if err := json.Unmarshal(raw, &id); err != nil {
			return fail(jobs.Invalid("id", "id must be a string."))
		}
		if strings.TrimSpace(id) == "" {
			return fail(jobs.Invalid("id", "id must not be blank."))
		}
		delete(fields, "id")
	}
	if _, ok := fields["idempotency_key"]; ok {
		return fail(jobs.Invalid("idempotency_key", "idempotency_key is set by the batch tool (from id, or the line's content and number); leave it out."))
	}
	if _, ok := fields["lane"]; ok {
		return fail(jobs.Invalid("lane", "lane is not set per line: the batch tool submits every line on the bulk lane."))
	}
	return newLine(n, id, fields, s)
}

// newLine is line n, keyed by id ("" for none), asking for the request
// fields (POST /generate's). Every input format comes here, so a request
// is checked, hashed and keyed the same way whatever file it came from.
func newLine(n int, id string, fields map[string]json.RawMessage, s lineSettings) Line {
	l := Line{N: n, ID: id}
	if s.Model != "" {
		fields["model"], _ = json.Marshal(s.Model)
	}
	if _, ok := fields["max_tokens"]; !ok && s.MaxTokens > 0 {
		fields["max_tokens"], _ = json.Marshal(s.MaxTokens)
	}
	if s.ResponseFormat != nil {
		// In the fields, so it is hashed with the rest: a run with
		// another schema does not take an earlier run's jobs (recorded
		// under the old sum) for its own.
		fields["response_format"] = s.ResponseFormat
	}
	// json.Marshal sorts the keys and compacts the values, so the sum does
	// not change with key order or spacing.
	canonical, err := json.Marshal(fields)
	if err != nil {
		l.Err = errorInfo(jobs.Invalid("body", "The line is not valid JSON."))
		return l
	}
	var model string
	if raw, ok := fields["model"]; ok {
		_ = json.Unmarshal(raw, &model) // a wrong type is DecodeRequest's to report
	}
	// DecodeRequest, not Batch.Entry: the line has no idempotency_key yet,
	// and Batch.Entry names a mistyped field "rawRequest.prompt".
	req, err := jobs.DecodeRequest(canonical, localLimits(model))
	if err != nil {
		l.Err = errorInfo(err)
		return l
	}
	l.Structured = req.ResponseFormat != nil
	sum := sha256.Sum256(canonical)
	l.Sum = hex.EncodeToString(sum[:16])
	l.Key = idempotencyKey(s.KeyPrefix, n, l.ID, l.Sum)
	fields["idempotency_key"], _ = json.Marshal(l.Key)
	l.Entry, _ = json.Marshal(fields) // it was marshalled once already
	return l
}

// idempotencyKey derives the key a line is sent with:
//
//   - a line with an id: "<prefix>:id:<id>", or "<prefix>:idh:<sha256 of
//     the id>" when the id is not printable ASCII or longer than 200 bytes;
//   - a line without one: "<prefix>:line:<n>:<sum>", its line number and
//     a hash of its request fields.
//
// The same input therefore sends the same keys on every run.
func idempotencyKey(prefix string, n int, id, sum string) string {
	if id == "" {
		return fmt.Sprintf("%s:line:%d:%s", prefix, n, sum)
	}
	if len(id) <= 200 && printableASCII(id) {
		return prefix + ":id:" + id
	}
	h := sha256.Sum256([]byte(id))
	return prefix + ":idh:" + hex.EncodeToString(h[:])
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// errorInfo turns a *jobs.Error into the results' error shape.
func errorInfo(err error) *ErrorInfo {
	var e *jobs.Error
	if errors.As(err, &e) {
		return &ErrorInfo{Code: string(e.Kind), Message: e.Message, Field: e.Field}
	}
	return &ErrorInfo{Code: "invalid_request", Message: err.Error()}
}
