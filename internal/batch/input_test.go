package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

func TestReadInputValidatesEachLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		line  string
		field string // "" for a valid line
	}{
		{"minimal", `{"prompt": "hi"}`, ""},
		{"every field", `{"id": "a", "prompt": "hi", "system": "s", "max_tokens": 10, "temperature": 0.3, "model": "m"}`, ""},
		{"any model: the API has the allow-list", `{"prompt": "hi", "model": "promptq-local"}`, ""},
		{"a long prompt: the API has the limit", `{"prompt": "` + strings.Repeat("x", 200_000) + `"}`, ""},
		{"not JSON", `prompt: hi`, "body"},
		{"an array", `[{"prompt": "hi"}]`, "body"},
		{"null", `null`, "body"},
		{"no prompt", `{"system": "s"}`, "prompt"},
		{"blank prompt", `{"prompt": "  "}`, "prompt"},
		{"prompt not a string", `{"prompt": 5}`, "prompt"},
		{"id not a string", `{"id": 5, "prompt": "hi"}`, "id"},
		{"blank id", `{"id": "", "prompt": "hi"}`, "id"},
		{"max_tokens zero", `{"prompt": "hi", "max_tokens": 0}`, "max_tokens"},
		{"max_tokens too big", `{"prompt": "hi", "max_tokens": 128001}`, "max_tokens"},
		{"temperature on a model that takes none", `{"prompt": "hi", "temperature": 0.5}`, "temperature"},
		{"temperature too high", `{"prompt": "hi", "temperature": 1.5}`, "temperature"},
		{"unknown field", `{"prompt": "hi", "stream": true}`, "stream"},
		{"an idempotency key of its own", `{"prompt": "hi", "idempotency_key": "k"}`, "idempotency_key"},
		{"a lane of its own", `{"prompt": "hi", "lane": "bulk"}`, "lane"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines, err := ReadInput(strings.NewReader(tt.line+"\n"), "batch")
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != 1 {
				t.Fatalf("%d lines", len(lines))
			}
			l := lines[0]
			switch {
			case tt.field == "" && l.Err != nil:
				t.Errorf("refused: %+v", l.Err)
			case tt.field != "" && l.Err == nil:
				t.Errorf("accepted; want an error about %s", tt.field)
			case tt.field != "" && (l.Err.Field != tt.field || l.Err.Code != "invalid_request" || l.Err.Message == ""):
				t.Errorf("error %+v, want one about %s", l.Err, tt.field)
			case tt.field == "" && (l.Key == "" || len(l.Entry) == 0):
				t.Errorf("valid line without key or entry: %+v", l)
			}
		})
	}
}

func TestReadInputNumbersLinesAndSkipsBlankOnes(t *testing.T) {
	t.Parallel()
	in := "\n{\"prompt\":\"a\"}\n   \n\t\n{\"prompt\":\"b\"}\r\n{\"id\":\"x\",\"prompt\":\"c\"}\n{\"id\":\"x\",\"prompt\":\"d\"}"
	lines, err := ReadInput(strings.NewReader(in), "batch")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, l := range lines {
		got = append(got, l.N)
	}
	if want := []int{2, 5, 6, 7}; !equalInts(got, want) {
		t.Fatalf("line numbers %v, want %v", got, want)
	}
	if e := lines[3].Err; e == nil || e.Field != "id" || !strings.Contains(e.Message, "line 6") {
		t.Errorf("a repeated id: %+v, want an error naming line 6", e)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	longID := strings.Repeat("i", 201)
	sha := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return hex.EncodeToString(h[:])
	}
	tests := []struct {
		name   string
		prefix string
		line   string
		want   string // with <sum> for the line's sum
	}{
		{"id", "batch", `{"id": "q-17", "prompt": "hi"}`, "batch:id:q-17"},
		{"id and another prefix", "run2", `{"id": "q-17", "prompt": "hi"}`, "run2:id:q-17"},
		{"non-ASCII id is hashed", "batch", `{"id": "clé", "prompt": "hi"}`, "batch:idh:" + sha("clé")},
		{"long id is hashed", "batch", `{"id": "` + longID + `", "prompt": "hi"}`, "batch:idh:" + sha(longID)},
		{"no id: line and content", "batch", `{"prompt": "hi"}`, "batch:line:1:<sum>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines, err := ReadInput(strings.NewReader(tt.line), tt.prefix)
			if err != nil || lines[0].Err != nil {
				t.Fatal(err, lines[0].Err)
			}
			l := lines[0]
			if want := strings.ReplaceAll(tt.want, "<sum>", l.Sum); l.Key != want {
				t.Errorf("key %q, want %q", l.Key, want)
			}
			if len(l.Key) > 255 || !printableASCII(l.Key) {
				t.Errorf("key %q is not a valid Idempotency-Key", l.Key)
			}
			var entry map[string]any
			if err := json.Unmarshal(l.Entry, &entry); err != nil {
				t.Fatal(err)
			}
			if entry["idempotency_key"] != l.Key || entry["id"] != nil {
				t.Errorf("entry %s: want the key and no id", l.Entry)
			}
		})
	}
}

func TestTheSameRequestGetsTheSameKeyOnlyOnTheSameLine(t *testing.T) {
	t.Parallel()
	read := func(in string) []Line {
		t.Helper()
		lines, err := ReadInput(strings.NewReader(in), "batch")
		if err != nil {
			t.Fatal(err)
		}
		return lines
	}
	a := read("{\"prompt\": \"hi\", \"max_tokens\": 5}\n{\"prompt\": \"hi\", \"max_tokens\": 5}")
	b := read(`{ "max_tokens":5,"prompt":"hi" }`)
	if a[0].Key != b[0].Key || a[0].Sum != b[0].Sum {
		t.Errorf("key order or spacing changed the key: %s vs %s", a[0].Key, b[0].Key)
	}
	if a[0].Key == a[1].Key {
		t.Errorf("two identical lines share key %s; they are two requests", a[0].Key)
	}
	c := read(`{"prompt": "hi", "max_tokens": 6}`)
	if c[0].Key == b[0].Key {
		t.Errorf("a changed request kept its key")
	}
}
