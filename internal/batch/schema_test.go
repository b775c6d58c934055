package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testSchema is a schema the fake worker's JSON answer conforms to (see
// api.work), its properties in an order other than the answer's.
const testSchema = `{"type": "object", "properties": {
	"summary": {"type": "string"}, "stars": {"type": "integer"}, "topics": {"type": "array", "items": {"type": "string"}},
	"extra": {"type": "object"}, "missing": {"type": "string"}}, "required": ["summary", "stars"]}`

func TestSchemaFileIsEveryRequestsResponseFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := Options{Input: writeFile(t, dir, "t.csv", "id,text\nr1,a\nr2,b\n"), Template: writeFile(t, dir, "p.tmpl", "{{.text}}"),
		Schema: writeFile(t, dir, "s.json", testSchema), SchemaName: "review", KeyPrefix: "batch"}
	_, lines, err := openInput(o)
	if err != nil {
		t.Fatal(err)
	}
	plain := o
	plain.Schema, plain.SchemaName = "", ""
	_, without, err := openInput(plain)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		var got struct {
			ResponseFormat json.RawMessage `json:"response_format"`
		}
		if err := json.Unmarshal(l.Entry, &got); err != nil {
			t.Fatal(err)
		}
		// Compact, in the file's key order, named.
		want := `{"type":"json_schema","name":"review","schema":{"type":"object","properties":{"summary":{"type":"string"},"stars"`
		if !strings.HasPrefix(string(got.ResponseFormat), want) || !l.Structured {
			t.Errorf("line %d: response_format %s (structured %v), want it to start %s", l.N, got.ResponseFormat, l.Structured, want)
		}
		// It is hashed with the request: a run with another schema (or
		// none) does not take this run's jobs for its own.
		if l.Sum == without[i].Sum || without[i].Structured {
			t.Errorf("line %d: the same sum with a schema and without", l.N)
		}
	}
}

func TestABadSchemaIsRefusedBeforeAnythingIsSent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, input, schema, schemaName, want string
	}{
		{"a file that is not JSON", "t.csv", "a\nx\n", `{"type": `, "", "--schema-file"},
		{"a schema that is not an object", "t.csv", "a\nx\n", `[1]`, "", "must be a JSON schema object"},
		{"a schema that does not compile", "t.csv", "a\nx\n", `{"type": 5}`, "", "not a JSON schema promptq can use"},
		{"a reference to a URL", "t.csv", "a\nx\n", `{"$ref": "https://example.com/s.json"}`, "", "not a JSON schema promptq can use"},
		{"a name with spaces", "t.csv", "a\nx\n", `{"type": "object"}`, "my schema", `--schema-name "my schema"`},
		{"a column the schema adds", "t.csv", "summary,b\nx,y\n", testSchema, "", `column "summary", which the results add`},
		{"a property named as an added column", "t.csv", "a\nx\n", `{"type": "object", "properties": {"status": {"type": "string"}}}`, "", `property "status"`},
		{"a JSONL row with generated_json", "t.jsonl", `{"a": "x", "generated_json": 1}` + "\n", testSchema, "", `"generated_json", which the results add`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			dir := t.TempDir()
			o := a.options(t, writeFile(t, dir, tt.file, tt.input), nil)
			o.Template = writeFile(t, dir, "p.tmpl", "{{.a}}")
			o.Schema, o.SchemaName = writeFile(t, dir, "schema.json", tt.schema), tt.schemaName
			_, err := Run(t.Context(), o)
			var setup *SetupError
			if !errors.As(err, &setup) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want a SetupError saying %q", err, tt.want)
			}
			if n := a.batchCalls.Load(); n != 0 {
				t.Errorf("%d batch calls; want none", n)
			}
		})
	}
}

func TestATableWithASchemaGetsTheAnswersPropertiesAsColumns(t *testing.T) {
	t.Parallel()
	// 12 rows: more than listThreshold, so the answers are read from
	// listings, which leave generated_json out.
	var csvIn, jsonlIn strings.Builder
	csvIn.WriteString("review_id,review\n")
	for i := range 12 {
		text := fmt.Sprintf("review %d", i)
		if i == 5 {
			text = "FAIL on purpose"
		}
		fmt.Fprintf(&csvIn, "r%d,%s\n", i, text)
		fmt.Fprintf(&jsonlIn, `{"review_id": "r%d", "review": %q}`+"\n", i, text)
	}
	for _, tt := range []struct{ name, file, input string }{
		{"CSV", "reviews.csv", csvIn.String()},
		{"JSONL", "reviews.jsonl", jsonlIn.String()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			dir := t.TempDir()
			o := a.options(t, writeFile(t, dir, tt.file, tt.input), nil)
			o.Output = filepath.Join(dir, "out"+filepath.Ext(tt.file))
			o.Template = writeFile(t, dir, "p.tmpl", "{{.review}}")
			o.Schema = writeFile(t, dir, "schema.json", testSchema)
			o.IDColumn = "review_id"
			o.Wait = true
			if _, err := Run(t.Context(), o); err != nil {
				t.Fatal(err)
			}
			first, err := os.ReadFile(o.Output)
			if err != nil {
				t.Fatal(err)
			}
			if a.listCalls.Load() == 0 {
				t.Fatalf("no listing was read: the test no longer covers answers read from listings")
			}
			if tt.name == "CSV" {
				header := strings.SplitN(string(first), "\n", 2)[0]
				if want := "review_id,review,status,generated_text,error,summary,stars,topics,extra,missing"; header != want {
					t.Errorf("header %s, want %s", header, want)
				}
			}
			rows := tableRows(t, o.Output)
			if len(rows) != 12 {
				t.Fatalf("%d rows, want 12", len(rows))
			}
			for i, r := range rows {
				if r["review_id"] != fmt.Sprintf("r%d", i) {
					t.Fatalf("row %d is %s: not in input order", i+1, r["review_id"])
				}
				want := map[string]string{"status": "succeeded", "summary": fmt.Sprintf("echo: review %d", i), "stars": "4",
					"topics": `["a","b"]`, "extra": `{"k":true}`, "missing": ""}
				if i == 5 {
					want = map[string]string{"status": "failed", "summary": "", "stars": "", "topics": "", "extra": "", "missing": ""}
				}
				if tt.name == "JSONL" {
					want = map[string]string{"status": want["status"], "generated_json": ""}
					if i != 5 {
						want["generated_json"] = fmt.Sprintf(`{"summary":"echo: review %d","stars":4,"topics":["a","b"],"extra":{"k":true},"gone":null}`, i)
					}
				}
				for k, v := range want {
					if r[k] != v {
						t.Errorf("row %d: %s is %q, want %q", i+1, k, r[k], v)
					}
				}
			}

			// The same command again sends nothing and writes the same.
			calls := a.batchCalls.Load() + a.getCalls.Load() + a.listCalls.Load()
			if _, err := Run(t.Context(), o); err != nil {
				t.Fatal(err)
			}
			again, _ := os.ReadFile(o.Output)
			if n := a.batchCalls.Load() + a.getCalls.Load() + a.listCalls.Load(); n != calls || string(again) != string(first) {
				t.Errorf("the second run made %d calls and wrote\n%s\nthe first\n%s", n-calls, again, first)
			}
		})
	}
}

func TestRequestsWithASchemaHaveTheirJSONInTheResults(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	dir := t.TempDir()
	// Three lines: polled one by one (GET /jobs/{id}, which carries
	// generated_json). The second sets its own schema, which
	// --schema-file replaces; the third fails.
	input := writeInput(t, dir, `{"id": "a", "prompt": "one"}`,
		`{"id": "b", "prompt": "two", "response_format": {"type": "json_schema", "schema": {"type": "string"}}}`,
		`{"id": "c", "prompt": "FAIL"}`)
	o := a.options(t, input, nil)
	o.Schema = writeFile(t, dir, "schema.json", testSchema)
	o.Wait = true
	if _, err := Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	res := readResults(t, o.Output)
	for i, want := range []string{
		`{"summary":"echo: one","stars":4,"topics":["a","b"],"extra":{"k":true},"gone":null}`,
		`{"summary":"echo: two","stars":4,"topics":["a","b"],"extra":{"k":true},"gone":null}`,
		"",
	} {
		if string(res[i].GeneratedJSON) != want {
			t.Errorf("line %d: generated_json %s, want %s", i+1, res[i].GeneratedJSON, want)
		}
	}
	data, _ := os.ReadFile(o.Output)
	if n := strings.Count(string(data), `"generated_json"`); n != 2 {
		t.Errorf("%d results carry generated_json, want 2 (none for the failed line):\n%s", n, data)
	}
}

func TestPropertyCells(t *testing.T) {
	t.Parallel()
	props := []string{"s", "n", "b", "l", "o", "null", "absent"}
	tests := []struct {
		name, json string
		want       []string
	}{
		{"every kind", `{"s":"a, \"b\"\nc","n":-1.5e3,"b":false,"l":[1,"x"],"o":{"k":[]},"null":null}`,
			[]string{"a, \"b\"\nc", "-1.5e3", "false", `[1,"x"]`, `{"k":[]}`, "", ""}},
		{"no answer", ``, []string{"", "", "", "", "", "", ""}},
		{"not an object", `[1]`, []string{"", "", "", "", "", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var raw json.RawMessage
			if tt.json != "" {
				raw = json.RawMessage(tt.json)
			}
			if got := propertyCells(raw, props); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
