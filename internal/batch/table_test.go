package batch

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes text to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readTable reads a table of rows with a template, as a run does.
func readTable(t *testing.T, name, input, prompt, system, idColumn string) ([]Line, error) {
	t.Helper()
	dir := t.TempDir()
	o := Options{Input: writeFile(t, dir, name, input), Template: writeFile(t, dir, "prompt.tmpl", prompt), IDColumn: idColumn, KeyPrefix: "batch"}
	if system != "" {
		o.SystemTemplate = writeFile(t, dir, "system.tmpl", system)
	}
	_, lines, err := openInput(o)
	return lines, err
}

func TestATableRowBecomesTheRequestItsTemplatesMake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, input, prompt, system, id string
		want                                  []map[string]any // each line's request, without its key
		wantIDs                               []string
		wantLines                             []int
	}{
		{
			name: "CSV", file: "t.csv",
			input:  "id,title,body\nr1,Good,\"Works, well\"\nr2,Bad,\"Two\nlines\"\nr3,Odd,x\n",
			prompt: "Classify: {{.title}}: {{.body}}", system: "You label reviews of {{.id}}.", id: "id",
			want: []map[string]any{
				{"prompt": "Classify: Good: Works, well", "system": "You label reviews of r1."},
				{"prompt": "Classify: Bad: Two\nlines", "system": "You label reviews of r2."},
				{"prompt": "Classify: Odd: x", "system": "You label reviews of r3."},
			},
			wantIDs:   []string{"r1", "r2", "r3"},
			wantLines: []int{2, 3, 5}, // a quoted cell may span lines: the row's first
		},
		{
			name: "CSV with a byte-order mark and a column name with spaces", file: "t.csv",
			input:   "\ufeffReview text,stars\nfine,4\n",
			prompt:  `{{field . "Review text"}} ({{.stars}} stars)`,
			want:    []map[string]any{{"prompt": "fine (4 stars)"}},
			wantIDs: []string{""}, wantLines: []int{2},
		},
		{
			name: "JSONL, numbers as written, nested fields, a numeric id", file: "t.jsonl",
			input:  `{"n": 7, "price": 12.50, "item": {"name": "lamp"}}` + "\n\n" + `{"n": 8, "price": 1e3, "item": {"name": "desk"}}` + "\n",
			prompt: "{{.item.name}} costs {{.price}}", id: "n",
			want:    []map[string]any{{"prompt": "lamp costs 12.50"}, {"prompt": "desk costs 1e3"}},
			wantIDs: []string{"7", "8"}, wantLines: []int{1, 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines, err := readTable(t, tt.file, tt.input, tt.prompt, tt.system, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("%d lines, want %d", len(lines), len(tt.want))
			}
			for i, l := range lines {
				var got map[string]any
				if err := json.Unmarshal(l.Entry, &got); err != nil {
					t.Fatal(err)
				}
				if key, _ := got["idempotency_key"].(string); key != l.Key || key == "" {
					t.Errorf("line %d: key %q, entry's %q", l.N, l.Key, key)
				}
				delete(got, "idempotency_key")
				if !equalJSON(t, got, tt.want[i]) || l.ID != tt.wantIDs[i] || l.N != tt.wantLines[i] {
					t.Errorf("line %d (id %q): %v, want line %d (id %q): %v", l.N, l.ID, got, tt.wantLines[i], tt.wantIDs[i], tt.want[i])
				}
				if tt.id != "" && l.Key != "batch:id:"+tt.wantIDs[i] {
					t.Errorf("line %d: key %q, want it from the id column", l.N, l.Key)
				}
			}
		})
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestEveryBadRowIsNamedWithItsFieldAndNothingIsSent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, input, prompt, id string
		want                          []string // in the error, in order
	}{
		{"a CSV column the template names is missing", "t.csv", "id,title\nr1,a\nr2,b\n", "{{.title}} {{.body}}", "id",
			[]string{"2 of 2 lines", `line 2 (id "r1"): --template names the field "body"`, `line 3 (id "r2"): --template names the field "body"`}},
		{"a JSONL row lacks a field", "t.jsonl", `{"id": "a", "title": "x"}` + "\n" + `{"id": "b"}` + "\n" + `{"id": "c", "title": null}` + "\n", "{{.title}}", "id",
			[]string{"2 of 3 lines", `line 2 (id "b"): --template names the field "title"`, `line 3 (id "c"): --template names the field "title"`}},
		{"a missing field named with field", "t.csv", "a\nx\n", `{{field . "b c"}}`, "",
			[]string{`line 2: --template names the field "b c"`}},
		{"a CSV row of the wrong width", "t.csv", "a,b\n1,2\n1,2,3\n4\n", "{{.a}}", "",
			[]string{"2 of 3 lines", "line 3: The row has 3 cells and the header 2", "line 4: The row has 1 cells"}},
		{"a blank id", "t.csv", "id,a\n,x\n", "{{.a}}", "id", []string{"line 2: The row's id (--id-column) is blank"}},
		{"a repeated id", "t.csv", "id,a\nr1,x\nr1,y\n", "{{.a}}", "id", []string{`line 3 (id "r1"): id "r1" repeats line 2`}},
		{"a JSONL row without the id field", "t.jsonl", `{"a": "x"}` + "\n", "{{.a}}", "id", []string{"line 1: The row has no id (--id-column)"}},
		{"a JSONL row that is not an object", "t.jsonl", `["a"]` + "\n", "{{.a}}", "", []string{"line 1: The line is not a JSON object"}},
		{"a JSONL row with a field the results add", "t.jsonl", `{"a": "x", "status": "new"}` + "\n", "{{.a}}", "", []string{`line 1: The row has a field "status", which the results add`}},
		{"a template that makes a blank prompt", "t.csv", "a\n \n", "{{.a}}", "", []string{"line 2: What --template makes of the row is refused: prompt must not be blank"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := readTable(t, tt.file, tt.input, tt.prompt, "", tt.id)
			if err == nil {
				t.Fatal("read; want the bad rows refused")
			}
			msg := err.Error()
			if !strings.Contains(msg, "nothing was sent") {
				t.Errorf("the error does not say nothing was sent: %s", msg)
			}
			at := 0
			for _, w := range tt.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("the error lacks %q (after what came before):\n%s", w, msg)
				}
				at += i + len(w)
			}
		})
	}
}

func TestATableThatCannotBeReadIsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, file, input, prompt, id, want string }{
		{"an empty CSV", "t.csv", "", "{{.a}}", "", "the CSV file is empty"},
		{"a header with a results column", "t.csv", "a,status\n1,2\n", "{{.a}}", "", `column "status", which the results add`},
		{"a header naming a column twice", "t.csv", "a,a\n1,2\n", "{{.a}}", "", `names column "a" twice`},
		{"an id column the header lacks", "t.csv", "a\n1\n", "{{.a}}", "id", `--id-column "id" is not a column`},
		{"a quote left open", "t.csv", "a\n\"x\n", "{{.a}}", "", "read CSV"},
		{"a template that does not parse", "t.csv", "a\n1\n", "{{.a", "", "--template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := readTable(t, tt.file, tt.input, tt.prompt, "", tt.id)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestATableRunWritesItsRowsBackWithTheirResultsInInputOrder(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, file, input string }{
		{"CSV", "reviews.csv", "review_id,product,review\n" +
			"r1,Lamp,\"Bright, and cheap\"\nr2,Desk,It wobbles\nr3,Chair,FAIL on purpose\nr4,Rug,\"Soft\nand warm\"\n"},
		{"JSONL", "reviews.jsonl", `{"review_id":"r1","product":"Lamp","review":"Bright, and cheap"}` + "\n" +
			`{"review_id":"r2","product":"Desk","review":"It wobbles"}` + "\n" +
			`{"review_id":"r3","product":"Chair","review":"FAIL on purpose"}` + "\n" +
			`{"review_id":"r4","product":"Rug","review":"Soft\nand warm"}` + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			dir := t.TempDir()
			o := a.options(t, writeFile(t, dir, tt.file, tt.input), nil)
			o.Output = filepath.Join(dir, "out"+filepath.Ext(tt.file))
			o.Template = writeFile(t, dir, "p.tmpl", "{{.product}}: {{.review}}")
			o.IDColumn = "review_id"
			o.Wait = true
			if _, err := Run(t.Context(), o); err != nil {
				t.Fatal(err)
			}
			first, err := os.ReadFile(o.Output)
			if err != nil {
				t.Fatal(err)
			}
			rows := tableRows(t, o.Output)
			want := [][]string{
				{"r1", "succeeded", "echo: Lamp: Bright, and cheap", ""},
				{"r2", "succeeded", "echo: Desk: It wobbles", ""},
				{"r3", "failed", "", "model_error"},
				{"r4", "succeeded", "echo: Rug: Soft\nand warm", ""},
			}
			if len(rows) != len(want) {
				t.Fatalf("%d rows, want %d", len(rows), len(want))
			}
			for i, w := range want {
				r := rows[i]
				if r["review_id"] != w[0] || r["status"] != w[1] || r["generated_text"] != w[2] || !strings.HasPrefix(r["error"], w[3]) {
					t.Errorf("row %d: %v, want %v", i+1, r, w)
				}
				if r["product"] == "" || r["review"] == "" {
					t.Errorf("row %d lost its input: %v", i+1, r)
				}
			}

			// The same command again sends nothing and writes the same.
			calls := a.batchCalls.Load()
			sum, err := Run(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			again, err := os.ReadFile(o.Output)
			if err != nil {
				t.Fatal(err)
			}
			if a.batchCalls.Load() != calls || sum.Replayed != 0 || len(a.jobsOf(t, "alice")) != 4 {
				t.Errorf("the second run sent %d batch calls; the store has %d jobs", a.batchCalls.Load()-calls, len(a.jobsOf(t, "alice")))
			}
			if string(again) != string(first) {
				t.Errorf("the second run wrote\n%s\nthe first\n%s", again, first)
			}
		})
	}
}

// tableRows reads a table's results: CSV or JSONL rows as maps of text.
func tableRows(t *testing.T, path string) []map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	if isCSV(path) {
		recs, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs[1:] {
			row := map[string]string{}
			for i, name := range recs[0] {
				row[name] = rec[i]
			}
			out = append(out, row)
		}
		if !strings.Contains(strings.Join(recs[0], ",")+",", ",status,generated_text,error,") {
			t.Errorf("the columns are %s, without status, generated_text and error", recs[0])
		}
		return out
	}
	for line := range strings.Lines(string(data)) {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("results line %q: %v", line, err)
		}
		// Strings as their text, an error as its code, anything else as
		// its JSON text.
		row := map[string]string{}
		for k, v := range raw {
			var text string
			var e ErrorInfo
			switch {
			case json.Unmarshal(v, &text) == nil:
				row[k] = text
			case k == "error" && json.Unmarshal(v, &e) == nil:
				row[k] = e.Code
			default:
				row[k] = string(v)
			}
		}
		out = append(out, row)
	}
	return out
}

func TestATableWithABadRowSendsNothing(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	dir := t.TempDir()
	o := a.options(t, writeFile(t, dir, "t.csv", "id,a\nr1,x\nr2,\nr3,z\n"), nil)
	o.Template = writeFile(t, dir, "p.tmpl", "{{.a}}")
	o.IDColumn = "id"
	_, err := Run(t.Context(), o)
	var setup *SetupError
	if !errors.As(err, &setup) || !strings.Contains(err.Error(), `line 3 (id "r2")`) {
		t.Fatalf("error %v, want a SetupError naming line 3", err)
	}
	if n := a.batchCalls.Load(); n != 0 {
		t.Errorf("%d batch calls; want none", n)
	}
	if _, err := os.Stat(o.Output); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a results file was written: %v", err)
	}
}
