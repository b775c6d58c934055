package catalogue

import (
	"regexp"
	"slices"
)

// ForeignModel is a model name of another provider's batch files (OpenAI's
// Batch API, Anthropic's Message Batches) and the catalogue's model the
// batch tool runs its requests on, when no --model says otherwise.
type ForeignModel struct {
	Name string // as a file names it; a dated snapshot of it maps the same
	ID   string // a model id of the catalogue (with its inference profile)
	Why  string // why this model: the same one, or the nearest in size and price
}

// ForeignModels is the one table of those names (README's "The batch files
// you already have" shows it). Anthropic's names map to the same models
// on Bedrock. OpenAI's models are not on Bedrock: each maps to the
// catalogue's model nearest in size and price, the small ones to the
// default model and the large ones to Claude Sonnet 5.5. A deployment runs
// only the models it allows (Claude Sonnet 5.5 is not in DefaultModels):
// the API refuses the others by name, as it does any request's.
var ForeignModels = []ForeignModel{
	{Name: "claude-haiku-5-5", ID: DefaultModel, Why: "the same model"},
	{Name: "claude-sonnet-5-5", ID: "us.anthropic.claude-sonnet-5-5", Why: "the same model"},
	{Name: "claude-opus-5-5", ID: "us.anthropic.claude-opus-5-5", Why: "the same model"},
	{Name: "claude-haiku-4-5", ID: "us.anthropic.claude-haiku-4-5-20251001-v1:0", Why: "the same model"},
	{Name: "claude-sonnet-4-5", ID: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", Why: "the same model"},
	{Name: "gpt-4o-mini", ID: DefaultModel, Why: "a small model: the default, Claude Haiku 5.5"},
	{Name: "gpt-4.1-mini", ID: DefaultModel, Why: "a small model: the default, Claude Haiku 5.5"},
	{Name: "gpt-4.1-nano", ID: DefaultModel, Why: "a small model: the default, Claude Haiku 5.5"},
	{Name: "gpt-5-mini", ID: DefaultModel, Why: "a small model: the default, Claude Haiku 5.5"},
	{Name: "gpt-5-nano", ID: DefaultModel, Why: "a small model: the default, Claude Haiku 5.5"},
	{Name: "gpt-4o", ID: "us.anthropic.claude-sonnet-5-5", Why: "a large model: Claude Sonnet 5.5"},
	{Name: "gpt-4.1", ID: "us.anthropic.claude-sonnet-5-5", Why: "a large model: Claude Sonnet 5.5"},
	{Name: "gpt-5", ID: "us.anthropic.claude-sonnet-5-5", Why: "a large model: Claude Sonnet 5.5"},
}

// snapshot is the date a provider puts after a model's name to pin a
// version: OpenAI's "-2024-07-18", Anthropic's "-20251001".
var snapshot = regexp.MustCompile(`-(\d{4}-\d{2}-\d{2}|\d{8})$`)

// MapForeign is the catalogue model that name, a model of another
// provider's batch file, runs on: a model id of the catalogue itself is
// kept; a name of ForeignModels, or a dated snapshot of one, is mapped.
func MapForeign(name string) (id string, ok bool) {
	if _, ok := Lookup(name); ok {
		return name, true
	}
	for _, n := range []string{name, snapshot.ReplaceAllString(name, "")} {
		if i := slices.IndexFunc(ForeignModels, func(f ForeignModel) bool { return f.Name == n }); i >= 0 {
			return ForeignModels[i].ID, true
		}
	}
	return "", false
}
