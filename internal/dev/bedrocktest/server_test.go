package bedrocktest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/dev/bedrocktest"
)

const (
	haiku55 = "us.anthropic.claude-haiku-5-5"
	haiku45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
)

func user(text string) types.Message {
	return types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: text}}}
}

func assistant(text string) types.Message {
	return types.Message{Role: types.ConversationRoleAssistant, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: text}}}
}

func jsonSchema(schema string) *types.OutputFormat {
	return &types.OutputFormat{Type: types.OutputFormatTypeJsonSchema,
		Structure: &types.OutputFormatStructureMemberJsonSchema{Value: types.JsonSchemaDefinition{Schema: aws.String(schema)}}}
}

// Under ModelRules the endpoint answers as the request's model does: a
// Claude 5.5 model refuses sampling parameters and a prefill with
// Bedrock's messages, naming the parameter; Claude Haiku 4.5 takes them.
// Only what the model accepts reaches the handler.
func TestModelRulesRefuseWhatTheModelRejects(t *testing.T) {
	t.Parallel()
	half := float32(0.5)
	tests := []struct {
		name    string
		model   string
		in      bedrockruntime.ConverseStreamInput
		wantMsg string // "": accepted
	}{
		{"temperature on Haiku 5.5", haiku55, bedrockruntime.ConverseStreamInput{
			InferenceConfig: &types.InferenceConfiguration{Temperature: &half}}, "`temperature` is deprecated for this model."},
		{"topP on Haiku 5.5", haiku55, bedrockruntime.ConverseStreamInput{
			InferenceConfig: &types.InferenceConfiguration{TopP: &half}}, "`top_p` is deprecated for this model."},
		{"top_k on Haiku 5.5", haiku55, bedrockruntime.ConverseStreamInput{
			AdditionalModelRequestFields: document.NewLazyDocument(map[string]any{"top_k": 5})}, "`top_k` is deprecated for this model."},
		{"a prefill on Haiku 5.5", haiku55, bedrockruntime.ConverseStreamInput{
			Messages: []types.Message{user("Go on."), assistant("So far")}}, catalogue.PrefillRejection},
		{"a user turn after the text so far on Haiku 5.5", haiku55, bedrockruntime.ConverseStreamInput{
			Messages: []types.Message{user("Go on."), assistant("So far"), user("Continue.")}}, ""},
		{"temperature and a prefill on Haiku 4.5", haiku45, bedrockruntime.ConverseStreamInput{
			InferenceConfig: &types.InferenceConfiguration{Temperature: &half},
			Messages:        []types.Message{user("Go on."), assistant("So far")}}, ""},
		{"a JSON schema text format", haiku55, bedrockruntime.ConverseStreamInput{
			OutputConfig: &types.OutputConfig{TextFormat: jsonSchema(`{"type":"object"}`)}}, ""},
		{"a text format of another type", haiku55, bedrockruntime.ConverseStreamInput{
			OutputConfig: &types.OutputConfig{TextFormat: &types.OutputFormat{Type: "xml",
				Structure: &types.OutputFormatStructureMemberJsonSchema{Value: types.JsonSchemaDefinition{Schema: aws.String("{}")}}}}},
			`outputConfig.textFormat.type "xml" is not json_schema`},
		{"a schema that is not JSON", haiku45, bedrockruntime.ConverseStreamInput{
			OutputConfig: &types.OutputConfig{TextFormat: jsonSchema(`type: object`)}}, "textFormat.structure.jsonSchema.schema is not a JSON schema object"},
		{"a text format with a prefill", haiku45, bedrockruntime.ConverseStreamInput{
			OutputConfig: &types.OutputConfig{TextFormat: jsonSchema(`{"type":"object"}`)},
			Messages:     []types.Message{user("Go on."), assistant(`{"a":`)}}, "cannot be used with outputConfig.textFormat."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			handled := false
			srv := bedrocktest.NewServer(t, bedrocktest.ModelRules(func(w *bedrocktest.Response, r *bedrocktest.Request) {
				handled = true
				w.Answer([]string{"ok"}, "end_turn", 1, 1)
			}))
			in := tt.in
			in.ModelId = aws.String(tt.model)
			if in.Messages == nil {
				in.Messages = []types.Message{user("Hi.")}
			}
			out, err := srv.Client(1).ConverseStream(t.Context(), &in)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("ConverseStream: %v", err)
				}
				out.GetStream().Close()
				if !handled {
					t.Error("the handler never saw an accepted request")
				}
				return
			}
			var v *types.ValidationException
			// The model's own errors come with Bedrock's prefix; a request
			// Bedrock itself finds malformed (its textFormat) without.
			if !errors.As(err, &v) || !strings.HasPrefix(v.ErrorMessage(), "The model returned the following errors: ") && !strings.Contains(tt.wantMsg, "textFormat") ||
				!strings.HasSuffix(v.ErrorMessage(), strings.TrimPrefix(tt.wantMsg, "The model returned the following errors: ")) {
				t.Fatalf("ConverseStream error %v, want a ValidationException ending %q", err, tt.wantMsg)
			}
			if handled {
				t.Error("the handler saw a request the model refuses")
			}
		})
	}
}

// A Claude 5.5 model thinks unless the request turns its thinking off:
// its stream then holds a reasoning block (text and signature) before the
// text; with thinking off, or on a model without adaptive thinking, the
// text alone.
func TestModelRulesStreamReasoningBeforeTheText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		model    string
		thinking string
		reasons  bool
	}{
		{"Haiku 5.5 by default", haiku55, "", true},
		{"Haiku 5.5 with thinking disabled", haiku55, "disabled", false},
		{"Opus 5.5, which cannot turn it off", "us.anthropic.claude-opus-5-5", "disabled", true},
		{"Haiku 4.5", haiku45, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := bedrocktest.NewServer(t, bedrocktest.ModelRules(func(w *bedrocktest.Response, r *bedrocktest.Request) {
				w.Answer([]string{"An answer."}, "end_turn", 3, 7)
			}))
			in := &bedrockruntime.ConverseStreamInput{ModelId: aws.String(tt.model), Messages: []types.Message{user("Hi.")}}
			if tt.thinking != "" {
				in.AdditionalModelRequestFields = document.NewLazyDocument(map[string]any{"thinking": map[string]any{"type": tt.thinking}})
			}
			out, err := srv.Client(1).ConverseStream(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			stream := out.GetStream()
			defer stream.Close()
			var seen []string
			for ev := range stream.Events() {
				if d, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
					switch v := d.Value.Delta.(type) {
					case *types.ContentBlockDeltaMemberText:
						seen = append(seen, "text:"+v.Value)
					case *types.ContentBlockDeltaMemberReasoningContent:
						switch r := v.Value.(type) {
						case *types.ReasoningContentBlockDeltaMemberText:
							seen = append(seen, "reasoning:"+r.Value)
						case *types.ReasoningContentBlockDeltaMemberSignature:
							seen = append(seen, "signature")
						}
					}
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			want := "text:An answer."
			if tt.reasons {
				want = "reasoning:" + bedrocktest.ThinkingText + " signature " + want
			}
			if got := strings.Join(seen, " "); got != want {
				t.Errorf("stream %q, want %q", got, want)
			}
		})
	}
}
