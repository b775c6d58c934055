package jobs_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/jobs"
)

func TestTheConversationContinuesTheWayTheModelTakes(t *testing.T) {
	t.Parallel()
	user := func(s string) jobs.Turn { return jobs.Turn{Role: jobs.RoleUser, Text: s} }
	assistant := func(s string) jobs.Turn { return jobs.Turn{Role: jobs.RoleAssistant, Text: s} }
	tests := []struct {
		name string
		req  jobs.Request
		want []jobs.Turn
	}{
		{"a first call is the prompt", jobs.Request{Prompt: "Write."}, []jobs.Turn{user("Write.")}},
		{"a prefill ends on the text so far, trimmed", jobs.Request{Prompt: "Write.", Continue: "So far \n", ContinueBy: catalogue.Prefill},
			[]jobs.Turn{user("Write."), assistant("So far")}},
		{"a user turn follows the text so far", jobs.Request{Prompt: "Write.", Continue: "So far \n", ContinueBy: catalogue.UserTurn},
			[]jobs.Turn{user("Write."), assistant("So far"), user(jobs.ContinueTurn)}},
		{"whitespace continues nothing", jobs.Request{Prompt: "Write.", Continue: " \n", ContinueBy: catalogue.UserTurn},
			[]jobs.Turn{user("Write.")}},
	}
	for _, tt := range tests {
		if got := tt.req.Conversation(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParamsFollowTheModel(t *testing.T) {
	t.Parallel()
	half := 0.5
	const haiku55 = "us.anthropic.claude-haiku-5-5"
	tests := []struct {
		name string
		req  jobs.Request
		want jobs.Params
	}{
		{"Haiku 5.5: no temperature, thinking off at medium", jobs.Request{Model: haiku55, Temperature: &half, Effort: "medium"},
			jobs.Params{Effort: "medium", ThinkingOff: "disabled"}},
		{"Haiku 5.5 thinks above high", jobs.Request{Model: haiku55, Effort: "max"}, jobs.Params{Effort: "max", Thinks: true}},
		{"Haiku 5.5 without an effort runs at promptq's default", jobs.Request{Model: haiku55},
			jobs.Params{Effort: catalogue.DefaultEffort, ThinkingOff: "disabled"}},
		{"Sonnet 5.5 cannot turn thinking off", jobs.Request{Model: "anthropic.claude-sonnet-5-5", Effort: "low"},
			jobs.Params{Effort: "low", Thinks: true}},
		{"Haiku 4.5: a temperature, no effort", jobs.Request{Model: "us.anthropic.claude-haiku-4-5-20251001-v1:0", Temperature: &half, Effort: "low"},
			jobs.Params{Temperature: &half}},
		{"a model the catalogue does not know gets what it is sent", jobs.Request{Model: "other", Temperature: &half, Effort: "low"},
			jobs.Params{Temperature: &half, Effort: "low"}},
	}
	for _, tt := range tests {
		if got := tt.req.Params(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if f := (jobs.Params{ThinkingOff: "disabled"}).AdditionalFields(); !reflect.DeepEqual(f, map[string]any{"thinking": map[string]any{"type": "disabled"}}) {
		t.Errorf("additional fields %v", f)
	}
	if f := (jobs.Params{Thinks: true}).AdditionalFields(); f != nil {
		t.Errorf("additional fields %v for a model left to think, want none", f)
	}
}

func TestRejectedPassesTheModelsMessageOnScrubbed(t *testing.T) {
	t.Parallel()
	cause := errors.New("ValidationException")
	e := jobs.Rejected("max_tokens too high for arn:aws:bedrock:us-east-1:123456789012:inference-profile/x", cause)
	if e.Kind != jobs.KindInvalid || e.Message != "The model rejected the request: max_tokens too high for (resource)" || !errors.Is(e, cause) {
		t.Errorf("Rejected = %+v", e)
	}
	if e := jobs.Rejected(" ", nil); e.Message != "The model rejected the request as invalid." {
		t.Errorf("Rejected without a message = %q", e.Message)
	}
}
