package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/promptq/promptq/internal/jobs"
)

// An inputFormat is one kind of input file: it reads the file into the
// lines to send (each a POST /generate request, made by newLine) and
// writes the results file in its own shape, one result per input line in
// input order. The run in between (batches, idempotency keys, the state
// file, waiting) is the same for every format.
type inputFormat interface {
	// read parses the whole input into lines, in file order. A line that
	// cannot be sent has Err set; the error is for the file itself.
	read(r io.Reader, s lineSettings) ([]Line, error)
	// strict says that a file with any line that cannot be sent is
	// refused whole, before anything is sent: its results file must hold
	// one row per input row in the format's own shape, and a table or a
	// foreign batch file is usually fixed and run again whole.
	strict() bool
	// encode is the results file's content.
	encode(results []Result) ([]byte, error)
}

// openInput reads the input file in the format the options and the file
// say (see --help's Input).
func openInput(o Options) (inputFormat, []Line, error) {
	s := lineSettings{KeyPrefix: o.KeyPrefix, Model: o.Model, MaxTokens: o.MaxTokens}
	var rf *jobs.ResponseFormat
	if o.Schema != "" {
		var err error
		if rf, err = readSchema(o.Schema, o.SchemaName, o.Model); err != nil {
			return nil, nil, err
		}
		s.ResponseFormat = jsonText(rf)
	}
	var f inputFormat
	switch {
	case o.Template != "":
		t, err := newTable(o.Template, o.SystemTemplate, o.IDColumn, isCSV(o.Input), rf)
		if err != nil {
			return nil, nil, err
		}
		f = t
	case isCSV(o.Input):
		return nil, nil, errors.New("a CSV file is a table: give --template, the prompt to make of each row")
	case o.SystemTemplate != "" || o.IDColumn != "":
		return nil, nil, errors.New("--system-file and --id-column go with --template")
	}
	data, err := os.ReadFile(o.Input)
	if err != nil {
		return nil, nil, fmt.Errorf("read input: %w", err)
	}
	if f == nil {
		f = detectFormat(data)
	}
	lines, err := f.read(bytes.NewReader(data), s)
	if err != nil {
		return nil, nil, err
	}
	if f.strict() {
		if err := refused(lines); err != nil {
			return nil, nil, err
		}
	}
	return f, lines, nil
}

// readSchema reads --schema-file's JSON schema into the response_format
// every request carries (named --schema-name, if given), checked as the
// API checks it (jobs.DecodeRequest, for model, or the default one): a
// schema the API would refuse is refused here once, naming the file,
// rather than on every line.
func readSchema(path, name, model string) (*jobs.ResponseFormat, error) {
	schema, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--schema-file: %w", err)
	}
	if !json.Valid(schema) {
		return nil, fmt.Errorf("--schema-file %s is not JSON", path)
	}
	rf := map[string]json.RawMessage{"type": jsonText(jobs.ResponseFormatJSONSchema), "schema": schema}
	if name != "" {
		rf["name"] = jsonText(name)
	}
	req := map[string]json.RawMessage{"prompt": jsonText("-"), "response_format": jsonText(rf)}
	if model != "" {
		req["model"] = jsonText(model)
	}
	r, err := jobs.DecodeRequest(jsonText(req), localLimits(model))
	var e *jobs.Error
	switch {
	case errors.As(err, &e) && e.Field == "response_format.name":
		return nil, fmt.Errorf("--schema-name %q: %s", name, e.Message)
	case errors.As(err, &e) && e.Field == "model":
		return nil, fmt.Errorf("--model %q: %s", model, e.Message)
	case errors.As(err, &e):
		return nil, fmt.Errorf("--schema-file %s: %s", path, e.Message)
	case err != nil:
		return nil, fmt.Errorf("--schema-file %s: %w", path, err)
	}
	return r.ResponseFormat, nil
}

// waits says whether a format's results need every job finished: OpenAI's
// and Anthropic's output shapes have no place for a job still queued, so
// their files are always run with --wait.
func waits(f inputFormat) bool {
	switch f.(type) {
	case openaiFormat, anthropicFormat:
		return true
	}
	return false
}

// isCSV says whether path names a CSV file.
func isCSV(path string) bool { return strings.EqualFold(filepath.Ext(path), ".csv") }

// refused is the error that lists every line that cannot be sent, or nil.
func refused(lines []Line) error {
	var b strings.Builder
	bad := 0
	for _, l := range lines {
		if l.Err == nil {
			continue
		}
		bad++
		fmt.Fprintf(&b, "\n  line %d", l.N)
		if l.ID != "" {
			fmt.Fprintf(&b, " (id %q)", l.ID)
		}
		fmt.Fprintf(&b, ": %s", l.Err.Message)
		if l.Err.Field != "" && !strings.Contains(l.Err.Message, l.Err.Field) {
			fmt.Fprintf(&b, " [%s]", l.Err.Field)
		}
	}
	if bad == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d lines cannot be sent, so nothing was sent; fix them and run the same command again:%s", bad, len(lines), b.String())
}

// requestsFormat is promptq's own input: one POST /generate body a line,
// with an optional "id". Its lines are checked one by one: a bad line is
// reported in the results and the others are sent.
type requestsFormat struct{}

func (requestsFormat) read(r io.Reader, s lineSettings) ([]Line, error) { return readRequests(r, s) }

func (requestsFormat) strict() bool { return false }

func (requestsFormat) encode(results []Result) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, res := range results {
		if err := enc.Encode(res); err != nil {
			return nil, fmt.Errorf("encode results: %w", err)
		}
	}
	return buf.Bytes(), nil
}

// jsonText is v as compact JSON, without HTML escaping (a results file is
// read by programs and people, not inlined in HTML).
func jsonText(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the values encoded here are strings, numbers and plain structs
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
