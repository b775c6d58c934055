package localmodel_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/jobs"
)

var schemas = []string{
	`{"type":"object","properties":{"sentiment":{"type":"string","enum":["positive","negative","very mixed"]},"score":{"type":"integer"}},"required":["sentiment","score"],"additionalProperties":false}`,
	`{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string"},"minItems":1},"price":{"type":"number"},"ok":{"type":"boolean"},"none":{"type":"null"},"kind":{"const":"review"}},"required":["tags","price","ok","none","kind"]}`,
	`{"type":"object","properties":{"z":{"type":["string","null"]},"a":{"anyOf":[{"type":"integer"},{"$ref":"#/$defs/point"}]}},"required":["z","a"],"$defs":{"point":{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"integer"}},"required":["x","y"]}}}`,
	`{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}`,
	`{"enum":["yes","no"]}`,
}

func format(schema string) *jobs.ResponseFormat {
	return &jobs.ResponseFormat{Type: jobs.ResponseFormatJSONSchema, Schema: []byte(schema)}
}

// A request with a response format is answered with JSON that conforms
// to its schema (checked with the worker's own check), the same for the
// same request, the properties in the schema's order; with the
// invalid-json fault, with JSON that conforms to nothing.
func TestASchemaIsAnsweredWithAValueThatConforms(t *testing.T) {
	t.Parallel()
	for i, schema := range schemas {
		for _, prompt := range []string{"Classify: great.", "Classify: awful, and slow."} {
			req := jobs.Request{Prompt: prompt, Model: haiku55, MaxTokens: 1000, ResponseFormat: format(schema)}
			p, deltas, err := generate(t, fast(), req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := req.ResponseFormat.Check(p.GeneratedText); err != nil {
				t.Errorf("schema %d: %q: %v", i, p.GeneratedText, err)
			}
			if strings.Join(deltas, "") != p.GeneratedText || p.Tokens.Output != len(strings.Fields(p.GeneratedText)) || p.StopReason != "end_turn" {
				t.Errorf("schema %d: %+v from %d deltas; want the words streamed and counted", i, p, len(deltas))
			}
			again, _, _ := generate(t, fast(), req)
			if again.GeneratedText != p.GeneratedText {
				t.Errorf("schema %d: %q then %q for the same request", i, p.GeneratedText, again.GeneratedText)
			}
			req.Prompt += " promptq-fault:invalid-json"
			bad, _, err := generate(t, fast(), req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := req.ResponseFormat.Check(bad.GeneratedText); !errors.Is(err, jobs.ErrInvalidOutput) {
				t.Errorf("schema %d with invalid-json: %q checks (%v)", i, bad.GeneratedText, err)
			}
		}
	}
	p, _, _ := generate(t, fast(), jobs.Request{Prompt: "p", Model: haiku55, MaxTokens: 100, ResponseFormat: format(schemas[2])})
	if !strings.HasPrefix(p.GeneratedText, `{"z": `) {
		t.Errorf("answer %q does not follow the schema's order of properties", p.GeneratedText)
	}
}

// A JSON answer cut by max_tokens goes on, by either way a model
// continues (the continuing call sends no schema), into the same value.
func TestAJSONAnswerContinuesIntoTheSameValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		model string
		by    catalogue.Continuation
	}{{"m", catalogue.Prefill}, {haiku55, catalogue.UserTurn}} {
		req := jobs.Request{Prompt: "Classify it.", Model: tc.model, MaxTokens: 1000, ResponseFormat: format(schemas[1])}
		whole, _, err := generate(t, fast(), req)
		if err != nil {
			t.Fatal(err)
		}
		text := ""
		for calls := 1; ; calls++ {
			r := req
			r.Continue, r.ContinueBy, r.MaxTokens = text, tc.by, 3
			if text != "" && r.Params().TextFormat != nil {
				t.Fatal("a continuing call is sent the schema")
			}
			p, _, err := generate(t, fast(), r)
			if err != nil {
				t.Fatal(err)
			}
			text = jobs.Join(text, p.GeneratedText, tc.by, true)
			if p.StopReason == "end_turn" || calls > 50 {
				break
			}
		}
		if text != whole.GeneratedText || !json.Valid([]byte(text)) {
			t.Errorf("%s: continued into %q, want %q", tc.by, text, whole.GeneratedText)
		}
	}
}
