package bedrockbatch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/promptq/promptq/internal/jobs"
)

// Record is one line of a run's input: a job as a Converse request, named
// by its job id.
type Record struct {
	RecordID   string     `json:"recordId"`
	ModelInput ModelInput `json:"modelInput"`
}

// ModelInput is the body of a Converse request, as a batch record carries
// it (the model is the run's, not the record's).
type ModelInput struct {
	Messages        []Message        `json:"messages"`
	System          []Content        `json:"system,omitempty"`
	InferenceConfig *InferenceConfig `json:"inferenceConfig,omitempty"`
	// OutputConfig and AdditionalModelRequestFields are Converse's; see
	// NewRecord for what is unconfirmed of them in a batch record.
	OutputConfig                 *OutputConfig  `json:"outputConfig,omitempty"`
	AdditionalModelRequestFields map[string]any `json:"additionalModelRequestFields,omitempty"`
}

// Message is one turn of a conversation.
type Message struct {
	Role    string    `json:"role"`
	Content []Content `json:"content"`
}

// Content is a text block; promptq sends and reads text only.
type Content struct {
	Text string `json:"text"`
}

// InferenceConfig is Converse's inferenceConfig.
type InferenceConfig struct {
	MaxTokens   int      `json:"maxTokens,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
}

// OutputConfig is Converse's outputConfig: the effort level, and the JSON
// schema the answer must conform to.
type OutputConfig struct {
	Effort     string      `json:"effort,omitempty"`
	TextFormat *TextFormat `json:"textFormat,omitempty"`
}

// TextFormat is Converse's outputConfig.textFormat, as the SDK's
// types.OutputFormat serializes: type json_schema and the schema, as a
// string, with its name.
type TextFormat struct {
	Type      string `json:"type"`
	Structure struct {
		JSONSchema struct {
			Schema string `json:"schema"`
			Name   string `json:"name,omitempty"`
		} `json:"jsonSchema"`
	} `json:"structure"`
}

// NewTextFormat is f as a record's outputConfig.textFormat.
func NewTextFormat(f *jobs.ResponseFormat) *TextFormat {
	t := &TextFormat{Type: jobs.ResponseFormatJSONSchema}
	t.Structure.JSONSchema.Schema, t.Structure.JSONSchema.Name = string(f.Schema), f.Name
	return t
}

// Format is the response format t asks for (nil for a t that is nil or
// not a JSON schema).
func (t *TextFormat) Format() *jobs.ResponseFormat {
	if t == nil || t.Type != jobs.ResponseFormatJSONSchema || t.Structure.JSONSchema.Schema == "" {
		return nil
	}
	return &jobs.ResponseFormat{Type: t.Type, Name: t.Structure.JSONSchema.Name, Schema: json.RawMessage(t.Structure.JSONSchema.Schema)}
}

// NewRecord is j as a record: the conversation and the parameters its
// model takes, by the rule on-demand calls follow (jobs.Request's
// Conversation and Params, which internal/bedrock sends too): one user
// turn with the prompt, the system prompt, the job's max_tokens, its
// temperature only for a model that takes one (none for the Claude 5.5
// models, which answer any with an error), its effort as
// outputConfig.effort, its response format as outputConfig.textFormat
// and, where promptq turns the model's thinking off,
// additionalModelRequestFields {"thinking": {"type": "disabled"}}.
//
// Structured outputs in batch records: the newer version of Bedrock's
// batch inference page says "Structured outputs are supported with both
// invocation types", an older one that they are not
// (catalogue.BatchStructuredOutputSource; unconfirmed).
//
// Unconfirmed: Bedrock documents that a Converse record's modelInput
// "must match the request body of the Converse API", of which outputConfig
// and additionalModelRequestFields are part, but no AWS document says
// batch inference honours outputConfig.effort, and the thinking field's
// shape on Converse is third-party; a run would show it (a record error
// 400 naming the field).
//
// Unlike on demand (internal/bedrock), no cache point is set: whether
// batch inference honours prompt caching is unconfirmed, and a run's
// records are billed at the batch price anyway.
func NewRecord(j jobs.Job) Record {
	req := j.Request()
	var in ModelInput
	for _, t := range req.Conversation() {
		in.Messages = append(in.Messages, Message{Role: t.Role, Content: []Content{{Text: t.Text}}})
	}
	if req.System != "" {
		in.System = []Content{{Text: req.System}}
	}
	p := req.Params()
	if req.MaxTokens > 0 || p.Temperature != nil {
		in.InferenceConfig = &InferenceConfig{MaxTokens: req.MaxTokens, Temperature: p.Temperature}
	}
	if p.Effort != "" || p.TextFormat != nil {
		in.OutputConfig = &OutputConfig{Effort: p.Effort}
	}
	if p.TextFormat != nil {
		in.OutputConfig.TextFormat = NewTextFormat(p.TextFormat)
	}
	in.AdditionalModelRequestFields = p.AdditionalFields()
	return Record{RecordID: j.ID, ModelInput: in}
}

// Line is r as one line of the input file, newline included.
func (r Record) Line() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode record %s: %w", r.RecordID, err)
	}
	return append(b, '\n'), nil
}

// Result is what Bedrock wrote for one record: the job's text, tokens and
// stop reason, or the error Bedrock gave it.
type Result struct {
	RecordID   string
	Text       string
	StopReason string
	Tokens     jobs.Tokens
	// Format is the response format the record asked for (its modelInput,
	// which Bedrock repeats in the output line), nil for text: the
	// completion checks the text against it.
	Format *jobs.ResponseFormat
	// Err is set for a record Bedrock could not run; the other fields are
	// then empty.
	Err *RecordError
}

// RecordError is Bedrock's error for one record. Code is what Bedrock
// wrote as errorCode (an HTTP-like status, written as a number or a
// string), as text.
type RecordError struct {
	Code    string
	Message string
}

func (e *RecordError) Error() string { return e.Code + ": " + e.Message }

// outputLine is an output line as Bedrock writes it. modelInput is
// repeated there too; of it only the text format is read.
type outputLine struct {
	RecordID   string `json:"recordId"`
	ModelInput struct {
		OutputConfig *OutputConfig `json:"outputConfig"`
	} `json:"modelInput"`
	ModelOutput *modelOutput `json:"modelOutput"`
	Error       *outputError `json:"error"`
}

type modelOutput struct {
	Output struct {
		Message struct {
			Content []Content `json:"content"`
		} `json:"message"`
	} `json:"output"`
	StopReason string `json:"stopReason"`
	Usage      struct {
		InputTokens           int `json:"inputTokens"`
		OutputTokens          int `json:"outputTokens"`
		CacheReadInputTokens  int `json:"cacheReadInputTokens"`
		CacheWriteInputTokens int `json:"cacheWriteInputTokens"`
	} `json:"usage"`
}

type outputError struct {
	Code    json.RawMessage `json:"errorCode"`
	Message string          `json:"errorMessage"`
}

// ErrMalformedOutput is wrapped by ReadOutput's error for a line it cannot
// read as a result.
var ErrMalformedOutput = errors.New("malformed output line")

// ReadOutput reads an output file and calls fn with each record's result,
// in the file's order (which need not be the input's). Lines of any length
// are read; blank lines are skipped. A line that is not a result (no
// recordId, or neither modelOutput nor error) stops the read with an error
// wrapping ErrMalformedOutput and the line's number; so does fn's error.
func ReadOutput(r io.Reader, fn func(Result) error) error {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			res, perr := parseLine(line)
			if perr != nil {
				return fmt.Errorf("output line %d: %w", n, perr)
			}
			if ferr := fn(res); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read output line %d: %w", n, err)
		}
	}
}

func parseLine(line []byte) (Result, error) {
	var l outputLine
	if err := json.Unmarshal(line, &l); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrMalformedOutput, err)
	}
	if l.RecordID == "" {
		return Result{}, fmt.Errorf("%w: no recordId", ErrMalformedOutput)
	}
	res := Result{RecordID: l.RecordID}
	if oc := l.ModelInput.OutputConfig; oc != nil {
		res.Format = oc.TextFormat.Format()
	}
	switch {
	case l.Error != nil:
		res.Err = &RecordError{Code: errorCode(l.Error.Code), Message: l.Error.Message}
	case l.ModelOutput != nil:
		o := l.ModelOutput
		var text bytes.Buffer
		for _, c := range o.Output.Message.Content {
			text.WriteString(c.Text)
		}
		res.Text = text.String()
		res.StopReason = o.StopReason
		res.Tokens = jobs.Tokens{Input: o.Usage.InputTokens, Output: o.Usage.OutputTokens,
			CacheRead: o.Usage.CacheReadInputTokens, CacheWrite: o.Usage.CacheWriteInputTokens}
	default:
		return Result{}, fmt.Errorf("%w: record %s has neither modelOutput nor error", ErrMalformedOutput, l.RecordID)
	}
	return res, nil
}

// errorCode is errorCode as text, whether Bedrock wrote it as a number or
// a string.
func errorCode(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return strconv.Quote(string(raw))
}

// Manifest is a run's manifest.json.out: its record and token counts.
type Manifest struct {
	TotalRecordCount     int `json:"totalRecordCount"`
	ProcessedRecordCount int `json:"processedRecordCount"`
	SuccessRecordCount   int `json:"successRecordCount"`
	ErrorRecordCount     int `json:"errorRecordCount"`
	InputTokenCount      int `json:"inputTokenCount"`
	OutputTokenCount     int `json:"outputTokenCount"`
}

// ReadManifest reads a manifest.json.out.
func ReadManifest(r io.Reader) (Manifest, error) {
	var m Manifest
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("read manifest: %w", err)
	}
	return m, nil
}
