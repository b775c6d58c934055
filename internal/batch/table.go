package batch

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/promptq/promptq/internal/jobs"
)

// tableFormat is a table of rows, a CSV file with a header row or a JSONL
// file of objects, made into requests by templates (Go's text/template,
// run with missingkey=error) that name the rows' fields: --template for
// the prompt, --system-file for the system prompt. A row the templates
// cannot be run on (a field they name is missing or null, a CSV row with
// more or fewer cells than the header) is refused, naming the row and the
// field; the file is strict, so nothing is sent while any row is.
//
// The results are the input rows with columns (CSV) or fields (JSONL)
// added: status, generated_text and error, in input order, one row per
// input row, so they join back to the input without code. With a schema
// (--schema-file), a CSV file gets a column per top-level property of the
// schema and a JSONL file the field generated_json, the answer's object.
type tableFormat struct {
	csv      bool
	prompt   *template.Template
	system   *template.Template // nil: no system prompt
	idColumn string             // the field that keys each row; "" for none
	added    []string           // the columns (CSV) or fields (JSONL) the results add
	props    []string           // a CSV file's schema columns, in the schema's order
	header   []string           // the CSV header
	rows     []tableRow         // every row read, in order, each a line
}

// tableRow is one row as read, to be written back with its result.
type tableRow struct {
	n     int
	cells []string // a CSV row's
	raw   []byte   // a JSONL row's line
}

// The columns (CSV) or fields (JSONL) a table's results add to each row;
// with a schema, a CSV file's schema columns follow them, and a JSONL
// file's rows get colJSON.
const (
	colStatus = "status"
	colText   = "generated_text"
	colError  = "error"
	colJSON   = "generated_json"
)

var addedColumns = []string{colStatus, colText, colError}

// newTable reads the templates of a table run; rf is every row's
// response format (nil for none).
func newTable(promptPath, systemPath, idColumn string, csv bool, rf *jobs.ResponseFormat) (*tableFormat, error) {
	t := &tableFormat{csv: csv, idColumn: idColumn, added: addedColumns}
	if rf != nil && csv {
		t.props = rf.Properties()
		for _, p := range t.props {
			if slices.Contains(addedColumns, p) {
				return nil, fmt.Errorf("--schema-file: the schema's property %q would be a column the results add already: rename it", p)
			}
		}
		t.added = slices.Concat(addedColumns, t.props)
	} else if rf != nil {
		t.added = slices.Concat(addedColumns, []string{colJSON})
	}
	var err error
	if t.prompt, err = readTemplate("--template", promptPath); err != nil {
		return nil, err
	}
	if systemPath != "" {
		if t.system, err = readTemplate("--system-file", systemPath); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// templateFuncs are the functions a template may call besides Go's own.
var templateFuncs = template.FuncMap{
	// field is a row's field by name, for names that are not Go
	// identifiers ({{field . "Review text"}}); unlike index, a missing
	// field is an error, as {{.name}}'s is.
	"field": func(row any, name string) (any, error) {
		var v any
		var ok bool
		switch r := row.(type) {
		case map[string]string:
			v, ok = r[name]
		case map[string]any:
			v, ok = r[name]
		}
		if !ok {
			return nil, fmt.Errorf("map has no entry for key %q", name)
		}
		return v, nil
	},
}

func readTemplate(flag, path string) (*template.Template, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	t, err := template.New(flag).Option("missingkey=error").Funcs(templateFuncs).Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return t, nil
}

func (t *tableFormat) strict() bool { return true }

func (t *tableFormat) read(r io.Reader, s lineSettings) ([]Line, error) {
	var lines []Line
	var err error
	if t.csv {
		lines, err = t.readCSV(r, s)
	} else {
		lines, err = t.readJSONL(r, s)
	}
	if err != nil {
		return nil, err
	}
	if t.idColumn != "" {
		refuseRepeatedIDs(lines, t.idColumn)
	}
	return lines, nil
}

func (t *tableFormat) readCSV(r io.Reader, s lineSettings) ([]Line, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // a row of another width is that row's error, not the file's
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the CSV file is empty: its first row must be the header, naming the columns")
	}
	if err != nil {
		return nil, fmt.Errorf("read CSV: %w", err)
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff") // the byte-order mark spreadsheets write
	for i, name := range header {
		switch {
		case strings.TrimSpace(name) == "":
			return nil, fmt.Errorf("the CSV header's column %d has no name", i+1)
		case slices.Contains(header[:i], name):
			return nil, fmt.Errorf("the CSV header names column %q twice", name)
		case slices.Contains(t.added, name):
			return nil, fmt.Errorf("the CSV header has a column %q, which the results add (%s): rename it", name, strings.Join(t.added, ", "))
		}
	}
	if t.idColumn != "" && !slices.Contains(header, t.idColumn) {
		return nil, fmt.Errorf("--id-column %q is not a column of the CSV header (%s)", t.idColumn, strings.Join(header, ", "))
	}
	t.header = header
	var lines []Line
	for {
		cells, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A quote left open and the like: the rows after it cannot
			// be told apart, so the file is refused.
			return nil, fmt.Errorf("read CSV: %w", err)
		}
		n, _ := cr.FieldPos(0)
		t.rows = append(t.rows, tableRow{n: n, cells: cells})
		if len(cells) != len(header) {
			lines = append(lines, Line{N: n, Err: &ErrorInfo{Code: "invalid_request", Field: "row",
				Message: fmt.Sprintf("The row has %d cells and the header %d.", len(cells), len(header))}})
			continue
		}
		row := make(map[string]string, len(header))
		for i, name := range header {
			row[name] = cells[i]
		}
		id := ""
		if t.idColumn != "" {
			id = row[t.idColumn]
			if strings.TrimSpace(id) == "" {
				lines = append(lines, Line{N: n, Err: &ErrorInfo{Code: "invalid_request", Field: t.idColumn,
					Message: fmt.Sprintf("The row's %s (--id-column) is blank.", t.idColumn)}})
				continue
			}
		}
		lines = append(lines, t.line(n, id, row, s))
	}
	return lines, nil
}

func (t *tableFormat) readJSONL(r io.Reader, s lineSettings) ([]Line, error) {
	var lines []Line
	err := scanJSONL(r, func(n int, text []byte) {
		t.rows = append(t.rows, tableRow{n: n, raw: bytes.Clone(text)})
		lines = append(lines, t.jsonRow(n, text, s))
	})
	return lines, err
}

// jsonRow is the line of a JSONL row.
func (t *tableFormat) jsonRow(n int, text []byte, s lineSettings) Line {
	fail := func(field, format string, a ...any) Line {
		return Line{N: n, Err: &ErrorInfo{Code: "invalid_request", Field: field, Message: fmt.Sprintf(format, a...)}}
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber() // numbers go into the prompt as written
	var row map[string]any
	if err := dec.Decode(&row); err != nil || row == nil || dec.More() {
		return fail("body", "The line is not a JSON object.")
	}
	for _, name := range t.added {
		if _, ok := row[name]; ok {
			return fail(name, "The row has a field %q, which the results add: rename it.", name)
		}
	}
	dropNulls(row)
	id := ""
	if t.idColumn != "" {
		switch v := row[t.idColumn].(type) {
		case string:
			id = v
		case json.Number:
			id = v.String()
		case nil:
			return fail(t.idColumn, "The row has no %s (--id-column).", t.idColumn)
		default:
			return fail(t.idColumn, "The row's %s (--id-column) must be a string or a number.", t.idColumn)
		}
		if strings.TrimSpace(id) == "" {
			return fail(t.idColumn, "The row's %s (--id-column) is blank.", t.idColumn)
		}
	}
	return t.line(n, id, row, s)
}

// dropNulls removes the null fields of a JSON object, and of the objects
// in it, so a template naming one finds it missing, as it should: it
// would print "<no value>" otherwise.
func dropNulls(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
				continue
			}
			dropNulls(e)
		}
	case []any:
		for _, e := range v {
			dropNulls(e)
		}
	}
}

// line runs the templates on a row and makes its request.
func (t *tableFormat) line(n int, id string, row any, s lineSettings) Line {
	fields := map[string]json.RawMessage{}
	for _, tmpl := range []struct {
		t     *template.Template
		field string
	}{{t.prompt, "prompt"}, {t.system, "system"}} {
		if tmpl.t == nil {
			continue
		}
		var buf bytes.Buffer
		if err := tmpl.t.Execute(&buf, row); err != nil {
			return Line{N: n, ID: id, Err: templateError(tmpl.t.Name(), err)}
		}
		fields[tmpl.field] = jsonText(buf.String())
	}
	l := newLine(n, id, fields, s)
	if l.Err != nil && (l.Err.Field == "prompt" || l.Err.Field == "system") {
		// The request's prompt is the template's output: say so.
		flag := map[string]string{"prompt": "--template", "system": "--system-file"}[l.Err.Field]
		l.Err.Message = fmt.Sprintf("What %s makes of the row is refused: %s", flag, l.Err.Message)
	}
	return l
}

var missingKey = regexp.MustCompile(`map has no entry for key "((?:[^"\\]|\\.)*)"`)

// templateError names the field a template needs and the row lacks.
func templateError(flag string, err error) *ErrorInfo {
	if m := missingKey.FindStringSubmatch(err.Error()); m != nil {
		return &ErrorInfo{Code: "invalid_request", Field: m[1],
			Message: fmt.Sprintf("%s names the field %q, which the row does not have (or is null).", flag, m[1])}
	}
	return &ErrorInfo{Code: "invalid_request", Field: flag, Message: fmt.Sprintf("%s cannot be run on the row: %v", flag, err)}
}

func (t *tableFormat) encode(results []Result) ([]byte, error) {
	if len(results) != len(t.rows) {
		return nil, fmt.Errorf("encode results: %d results for %d rows", len(results), len(t.rows))
	}
	var buf bytes.Buffer
	var w *csv.Writer
	if t.csv {
		w = csv.NewWriter(&buf)
		_ = w.Write(slices.Concat(t.header, t.added))
	}
	for i, res := range results {
		row := t.rows[i]
		if res.Line != row.n {
			return nil, fmt.Errorf("encode results: result %d is of line %d, not %d", i, res.Line, row.n)
		}
		text := ""
		if res.GeneratedText != nil {
			text = *res.GeneratedText
		}
		if t.csv {
			errText := ""
			if res.Error != nil {
				errText = res.Error.Code + ": " + res.Error.Message
			}
			_ = w.Write(slices.Concat(row.cells, []string{res.Status, text, errText}, propertyCells(res.GeneratedJSON, t.props)))
			continue
		}
		// The row as read, its fields in their order, with the results'
		// after them.
		body := bytes.TrimSpace(row.raw[1 : len(row.raw)-1])
		buf.WriteByte('{')
		if len(body) > 0 {
			buf.Write(body)
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `"status":%s,"generated_text":%s`, jsonText(res.Status), jsonText(text))
		if res.Error != nil {
			fmt.Fprintf(&buf, `,"error":%s`, jsonText(res.Error))
		}
		if res.GeneratedJSON != nil {
			fmt.Fprintf(&buf, `,"generated_json":%s`, res.GeneratedJSON)
		}
		buf.WriteString("}\n")
	}
	if t.csv {
		w.Flush()
		if err := w.Error(); err != nil {
			return nil, fmt.Errorf("encode results: %w", err)
		}
	}
	return buf.Bytes(), nil
}

// propertyCells are the CSV cells of an answer's top-level properties
// (generated_json, nil for none): a string as its text, a number, true or
// false as written, an object or a list as compact JSON, and a property
// the answer lacks (or null) as an empty cell.
func propertyCells(generated json.RawMessage, props []string) []string {
	cells := make([]string, len(props))
	var obj map[string]json.RawMessage
	if json.Unmarshal(generated, &obj) != nil {
		return cells // no answer, or not an object: a schema with properties cannot have passed
	}
	for i, p := range props {
		v, ok := obj[p]
		if !ok || string(v) == "null" {
			continue
		}
		var str string
		if json.Unmarshal(v, &str) == nil {
			cells[i] = str
			continue
		}
		cells[i] = string(v) // generated_json is compact already
	}
	return cells
}
