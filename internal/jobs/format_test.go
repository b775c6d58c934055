package jobs

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/catalogue"
)

const reviewSchema = `{"type":"object","properties":{"sentiment":{"type":"string","enum":["positive","negative","mixed"]},` +
	`"topics":{"type":"array","items":{"type":"string"}},"score":{"type":"integer"}},"required":["sentiment","score"],"additionalProperties":false}`

func TestDecodeRequestTakesAResponseFormat(t *testing.T) {
	t.Parallel()
	body := `{"prompt":"p","response_format":{"type":"json_schema","name":"review","schema":` +
		strings.ReplaceAll(reviewSchema, ",", ", ") + `}}`
	r, err := DecodeRequest([]byte(body), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	f := r.ResponseFormat
	if f == nil || f.Type != ResponseFormatJSONSchema || f.Name != "review" || string(f.Schema) != reviewSchema {
		t.Fatalf("response format = %+v, want the schema compacted in its own order", f)
	}
	if got := f.Properties(); !slices.Equal(got, []string{"sentiment", "topics", "score"}) {
		t.Errorf("properties = %q, want the schema's order", got)
	}
	plain, _ := DecodeRequest([]byte(`{"prompt":"p"}`), DefaultLimits())
	if plain.Fingerprint() == r.Fingerprint() {
		t.Error("a schema does not change the request's fingerprint")
	}
	other, _ := DecodeRequest([]byte(strings.Replace(body, `"mixed"`, `"neutral"`, 1)), DefaultLimits())
	if other.Fingerprint() == r.Fingerprint() {
		t.Error("another schema gives the same fingerprint")
	}
	if null, _ := DecodeRequest([]byte(`{"prompt":"p","response_format":null}`), DefaultLimits()); null.ResponseFormat != nil {
		t.Error("a null response_format is taken for one")
	}
	if got := (Job{Prompt: "p", ResponseFormat: f}).Request().ResponseFormat; got != f {
		t.Error("a job's request lost its response format")
	}
}

func TestDecodeRequestRejectsABadResponseFormat(t *testing.T) {
	t.Parallel()
	deep := `{"type":"string"}`
	for range MaxSchemaDepth {
		deep = `{"type":"object","properties":{"a":` + deep + `}}`
	}
	big := `{"type":"object","description":"` + strings.Repeat("x", MaxSchemaBytes) + `"}`
	tests := []struct {
		name, format, field, inMessage string
	}{
		{"a string", `"json"`, "response_format", "must be an object"},
		{"an array", `[]`, "response_format", "must be an object"},
		{"an unknown field", `{"type":"json_schema","schema":{},"strict":true}`, "response_format.strict", "not a known field"},
		{"no type", `{"schema":{}}`, "response_format.type", `"json_schema"`},
		{"another type", `{"type":"json_object","schema":{}}`, "response_format.type", `"json_schema"`},
		{"a type that is not a string", `{"type":1,"schema":{}}`, "response_format.type", `"json_schema"`},
		{"a bad name", `{"type":"json_schema","name":"a review","schema":{}}`, "response_format.name", "letters, digits"},
		{"a name too long", `{"type":"json_schema","name":"` + strings.Repeat("n", 65) + `","schema":{}}`, "response_format.name", "1 to 64"},
		{"no schema", `{"type":"json_schema"}`, "response_format.schema", "required"},
		{"a null schema", `{"type":"json_schema","schema":null}`, "response_format.schema", "required"},
		{"a schema that is not an object", `{"type":"json_schema","schema":true}`, "response_format.schema", "object"},
		{"a schema that does not compile", `{"type":"json_schema","schema":{"type":"objekt"}}`, "response_format.schema", "not a JSON schema promptq can use"},
		{"a bad pattern", `{"type":"json_schema","schema":{"type":"string","pattern":"("}}`, "response_format.schema", "not a JSON schema"},
		{"a dangling $ref", `{"type":"json_schema","schema":{"$ref":"#/$defs/none"}}`, "response_format.schema", "not a JSON schema"},
		{"a $ref to a file", `{"type":"json_schema","schema":{"$ref":"file:///etc/passwd"}}`, "response_format.schema", "not a JSON schema"},
		{"a $ref to a URL", `{"type":"json_schema","schema":{"$ref":"https://example.com/s.json"}}`, "response_format.schema", "not a JSON schema"},
		{"too large", `{"type":"json_schema","schema":` + big + `}`, "response_format.schema", fmt.Sprintf("at most %d bytes", MaxSchemaBytes)},
		{"too deep", `{"type":"json_schema","schema":` + deep + `}`, "response_format.schema", fmt.Sprintf("nests %d levels", MaxSchemaDepth+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeRequest([]byte(`{"prompt":"p","response_format":`+tt.format+`}`), DefaultLimits())
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Kind != KindInvalid || e.Field != tt.field || !strings.Contains(e.Message, tt.inMessage) {
				t.Errorf("got %s %q %q; want %q containing %q", e.Kind, e.Field, e.Message, tt.field, tt.inMessage)
			}
			if _, _, err := (Batch{Lane: LaneBulk}).Entry([]byte(`{"prompt":"p","response_format":`+tt.format+`}`), DefaultLimits()); !errors.As(err, &e) || e.Field != tt.field {
				t.Errorf("a batch entry: err = %v, want one naming %s", err, tt.field)
			}
		})
	}
}

func TestASchemaAtTheLimitsIsTaken(t *testing.T) {
	t.Parallel()
	deep := `{"type":"string"}`
	for range MaxSchemaDepth - 1 {
		deep = `{"type":"object","properties":{"a":` + deep + `}}`
	}
	pad := MaxSchemaBytes - len(`{"type":"object","description":""}`)
	for _, schema := range []string{deep, `{"type":"object","description":"` + strings.Repeat("x", pad) + `"}`} {
		if _, err := DecodeRequest([]byte(`{"prompt":"p","response_format":{"type":"json_schema","schema":`+schema+`}}`), DefaultLimits()); err != nil {
			t.Errorf("%.60s...: %v", schema, err)
		}
	}
}

// A model whose catalogue entry does not say it writes JSON to a schema
// is refused by name (every model of today's catalogue does: the rule is
// held by an entry made for the test).
func TestAModelWithoutStructuredOutputIsRefused(t *testing.T) {
	t.Parallel()
	m := catalogue.Model{ID: "x.model", Name: "Model X"}
	_, err := decodeResponseFormat([]byte(`{"type":"json_schema","schema":{}}`), m, true)
	var e *Error
	if !errors.As(err, &e) || e.Field != "response_format" || !strings.Contains(e.Message, "Model X (x.model) does not write JSON") {
		t.Errorf("err = %v, want a refusal naming response_format and the model", err)
	}
	if _, err := decodeResponseFormat([]byte(`{"type":"json_schema","schema":{}}`), m, false); err != nil {
		t.Errorf("a model the caller does not know: %v, want its support left to the server", err)
	}
}

func TestContinuingAJobTakesNoResponseFormat(t *testing.T) {
	t.Parallel()
	_, err := DecodeRequest([]byte(`{"continue":"`+NewID()+`","response_format":{"type":"json_schema","schema":{}}}`), DefaultLimits())
	var e *Error
	if !errors.As(err, &e) || e.Field != "response_format" {
		t.Errorf("err = %v, want one naming response_format", err)
	}
}

func TestCheckValidatesTheAnswer(t *testing.T) {
	t.Parallel()
	f := ResponseFormat{Type: ResponseFormatJSONSchema, Schema: []byte(reviewSchema)}
	got, err := f.Check("{\n  \"sentiment\": \"mixed\",\n  \"score\": 3, \"topics\": [\"price\"]\n}")
	if err != nil || string(got) != `{"sentiment":"mixed","score":3,"topics":["price"]}` {
		t.Fatalf("Check = %s, %v", got, err)
	}
	for _, bad := range []struct{ text, inMessage string }{
		{`{"sentiment": "happy", "score": 3}`, "does not conform"},
		{`{"sentiment": "mixed"}`, "does not conform"},
		{`{"sentiment": "mixed", "score": 3.5}`, "does not conform"},
		{`{"sentiment": "mixed", "score": 3, "extra": 1}`, "does not conform"},
		{`{"sentiment": "mixed", "sco`, "not JSON"},
		{`Sure! {"sentiment": "mixed", "score": 3}`, "not JSON"},
		{`{"sentiment": "mixed", "score": 3} {}`, "not one JSON value"},
		{`{"sentiment": "mixed", "score": 3} Hope this helps!`, "not one JSON value"},
	} {
		_, err := f.Check(bad.text)
		var oe *OutputError
		if !errors.As(err, &oe) || !errors.Is(err, ErrInvalidOutput) || !strings.Contains(oe.Message, bad.inMessage) {
			t.Errorf("Check(%q) = %v, want an OutputError saying %q", bad.text, err, bad.inMessage)
		}
	}
}

func TestACallThatContinuesSendsNoTextFormat(t *testing.T) {
	t.Parallel()
	f := &ResponseFormat{Type: ResponseFormatJSONSchema, Schema: []byte(reviewSchema)}
	j := Job{Prompt: "p", Model: DefaultModel, MaxTokens: 100, ResponseFormat: f}
	if got := j.NextRequest().Params().TextFormat; got != f {
		t.Errorf("the first call's text format = %v, want the job's", got)
	}
	j.GeneratedText, j.Tokens.Output = `{"sentiment": "mi`, 5
	if got := j.NextRequest().Params().TextFormat; got != nil {
		t.Errorf("a continuing call's text format = %v, want none", got)
	}
}

// A JSON answer cut anywhere and continued, the way either model
// continues (a prefill, the model writing the whitespace Bedrock made it
// drop again; a user turn, the model going on exactly or starting again a
// few words back), joins back into the same JSON, which checks.
func TestJoinKeepsAContinuedJSONAnswerWhole(t *testing.T) {
	t.Parallel()
	f := ResponseFormat{Type: ResponseFormatJSONSchema, Schema: []byte(reviewSchema)}
	const answer = `{"sentiment": "mixed", "topics": ["battery life", "the \"pro\" screen", "price: 20% off"], "score": 3}`
	for i := 1; i < len(answer); i++ {
		before := answer[:i]
		sent := Prefill(before)
		cases := []struct {
			by    catalogue.Continuation
			added string
		}{
			{catalogue.Prefill, answer[len(sent):]},
			{catalogue.UserTurn, answer[i:]},
		}
		if back := i - MinOverlap - 5; back >= 0 {
			cases = append(cases, struct {
				by    catalogue.Continuation
				added string
			}{catalogue.UserTurn, answer[back:]})
		}
		for _, c := range cases {
			got := Join(before, c.added, c.by, true)
			if got != answer {
				t.Fatalf("cut at %d (%s): joined %q, want %q", i, c.by, got, answer)
			}
		}
	}
	if _, err := f.Check(answer); err != nil {
		t.Fatal(err)
	}
}
