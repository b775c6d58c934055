// Package catalogue is the one list of the models promptq may call: for
// each, its Bedrock id, the name people know it by, its limits, how a
// generation that stopped early goes on, its prompt-caching minimum and its
// list prices. The API validates requests against it, the worker decides
// continuation and caching by it, the stack checks its allow-list and
// writes the web app's model list from it, and scripts/measure/cost prices tokens
// with it. It imports nothing, so the stack's module can use it too.
//
// Each entry is a foundation model; a request may name it directly or
// through a cross-region inference profile ("us.", "eu.", "global." ...
// before the id), which [Lookup] resolves to the same entry.
//
// Facts come from the models' cards in the Bedrock user guide and
// Anthropic's model pages (December 2026); each entry's Source says which,
// and what could not be confirmed.
package catalogue

import (
	"slices"
	"strings"
)

// Continuation is what the worker does with a generation that stopped
// before its end (the Lambda deadline came near, the stream broke off, the
// worker died).
type Continuation string

const (
	// Prefill: the next call ends the conversation with an assistant turn
	// holding the text so far (trailing whitespace trimmed, which Bedrock
	// refuses) and the model continues it; what it writes is appended. No
	// word is written, or paid for as output, twice.
	Prefill Continuation = "prefill"
	// Restart: the model refuses a prefilled assistant turn (Claude 4.6
	// and later), so the next call starts the answer again from the
	// beginning. The text already saved stays shown until the new call's
	// text is longer, so a reader never sees it shrink; the earlier
	// calls' tokens are still counted.
	Restart Continuation = "restart"
)

// Prices are list prices in dollars per million tokens.
type Prices struct {
	Input      float64
	Output     float64
	CacheRead  float64 // input tokens read from the prompt cache
	CacheWrite float64 // input tokens written to it (5-minute TTL)
}

// Cost is what the tokens cost at p, in dollars: input and output tokens,
// and input tokens read from and written to the prompt cache.
func (p Prices) Cost(input, output, cacheRead, cacheWrite int) float64 {
	return (float64(input)*p.Input + float64(output)*p.Output +
		float64(cacheRead)*p.CacheRead + float64(cacheWrite)*p.CacheWrite) / 1e6
}

// BatchDiscount is the share of the on-demand price Bedrock's batch
// inference (the economy lane) charges for the same tokens: half, as
// BatchPriceSource says. Unconfirmed on AWS's own pricing page from here.
const BatchDiscount = 0.5

// BatchPriceSource says where BatchDiscount comes from.
const BatchPriceSource = "50% of on-demand for input and output tokens: third-party pages " +
	"(wring.co, \"AWS Bedrock Batch Inference\", 2026-03; clauder-navi.com, \"Bedrock Claude Pricing\"); " +
	"UNCONFIRMED on aws.amazon.com/bedrock/pricing, which could not be read from here"

// Batch is p at Bedrock's batch inference price (BatchDiscount of each).
func (p Prices) Batch() Prices {
	return Prices{Input: p.Input * BatchDiscount, Output: p.Output * BatchDiscount,
		CacheRead: p.CacheRead * BatchDiscount, CacheWrite: p.CacheWrite * BatchDiscount}
}

// Model is one entry of the catalogue.
type Model struct {
	// ID is the foundation model id (without an inference-profile prefix).
	ID string
	// Name is the name shown to people.
	Name string
	// MaxOutputTokens is the largest max_tokens the model accepts.
	MaxOutputTokens int
	// ContextWindow is input plus output, in tokens.
	ContextWindow int
	// Continuation says how a stopped generation goes on.
	Continuation Continuation
	// CacheMinTokens is the fewest tokens a prompt-cache checkpoint needs
	// (below it Bedrock silently caches nothing); 0: no prompt caching.
	CacheMinTokens int
	// Prices are the model's list prices (on-demand, per million tokens).
	Prices Prices
	// Local marks the development stand-in (internal/dev/localmodel), which
	// Bedrock does not know: the stack refuses it.
	Local bool
	// Source says where the facts above come from.
	Source string
}

// LocalID is the id of the local stand-in model (internal/dev/localmodel).
const LocalID = "promptq-local"

// DefaultModel is the model a request gets when it names none: Claude
// Haiku 4.5 through its US cross-region inference profile. It is Active on
// Bedrock (its model card), cheap, writes up to 64K tokens and accepts a
// prefilled assistant turn, so a long answer continues where it stopped.
const DefaultModel = "us.anthropic.claude-haiku-4-5-20251001-v1:0"

// models is the catalogue. Prices are Anthropic's list prices; Bedrock's
// on-demand prices for geographic profiles match them, global profiles are
// said to be about 10% cheaper (unconfirmed). Cache writes are 1.25x input
// (5-minute TTL), cache reads 0.1x input (Anthropic's pricing page).
var models = []Model{
	{
		ID:              "anthropic.claude-haiku-4-5-20251001-v1:0",
		Name:            "Claude Haiku 4.5",
		MaxOutputTokens: 64_000,
		ContextWindow:   200_000,
		Continuation:    Prefill,
		CacheMinTokens:  4_096,
		Prices:          Prices{Input: 1, Output: 5, CacheRead: 0.10, CacheWrite: 1.25},
		Source: "Bedrock model card model-card-anthropic-claude-haiku-4-5 (Active; 200K context, 64K output; " +
			"cache checkpoint minimum 4,096 tokens); prices: Anthropic's Haiku 4.5 page ($1/$5)",
	},
	{
		ID:              "anthropic.claude-sonnet-4-5-20250929-v1:0",
		Name:            "Claude Sonnet 4.5",
		MaxOutputTokens: 64_000,
		ContextWindow:   200_000,
		Continuation:    Prefill,
		CacheMinTokens:  1_024,
		Prices:          Prices{Input: 3, Output: 15, CacheRead: 0.30, CacheWrite: 3.75},
		Source: "Anthropic's Claude on Amazon Bedrock page (ids) and model overview (200K context, 64K output, $3/$15); " +
			"cache minimum 1,024 from Anthropic's prompt-caching page (Bedrock's card: unconfirmed)",
	},
	{
		ID:              "anthropic.claude-haiku-5-5",
		Name:            "Claude Haiku 5.5",
		MaxOutputTokens: 128_000,
		ContextWindow:   1_000_000,
		// Prefill is removed from Claude 4.6 on (Anthropic's migration
		// notes: a 400 "does not support assistant message prefill").
		Continuation:   Restart,
		CacheMinTokens: 4_096,
		Prices:         Prices{Input: 0.10, Output: 0.50, CacheRead: 0.01, CacheWrite: 0.125},
		Source: "Bedrock model card model-card-anthropic-claude-haiku-5-5 (Active, EOL no sooner than 2027-10-07; " +
			"1M context, 128K output); prices: Anthropic's page, for prompts up to 100K tokens ($0.50/$2.50 above); " +
			"cache minimum unconfirmed, 4,096 assumed (Haiku 4.5's) so a checkpoint is never placed below it",
	},
	{
		ID:              LocalID,
		Name:            "promptq local model (not a real LLM)",
		MaxOutputTokens: 64_000,
		ContextWindow:   200_000,
		Continuation:    Prefill,
		Local:           true,
		Source:          "internal/dev/localmodel",
	},
}

// profilePrefixes are the geography prefixes of Bedrock cross-region
// inference profile ids ("us.anthropic...", "global.anthropic...").
var profilePrefixes = []string{"us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"}

// SplitProfile returns the foundation model id behind id and the
// inference profile's geography prefix ("" when id names a foundation
// model).
func SplitProfile(id string) (foundation, prefix string) {
	p, rest, ok := strings.Cut(id, ".")
	if ok && slices.Contains(profilePrefixes, p) {
		return rest, p
	}
	return id, ""
}

// Lookup returns the entry for id, a foundation model id or an inference
// profile id, and whether there is one.
func Lookup(id string) (Model, bool) {
	foundation, _ := SplitProfile(id)
	for _, m := range models {
		if m.ID == foundation && (!m.Local || foundation == id) {
			return m, true
		}
	}
	return Model{}, false
}

// All returns the catalogue's entries, in a fresh slice.
func All() []Model { return slices.Clone(models) }

// Entry is one model of the web app's config.json "models" list
// (web/js/config.js reads id, name and max_output_tokens).
type Entry struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	MaxOutputTokens int    `json:"max_output_tokens"`
	ContextWindow   int    `json:"context_window"`
	Continuation    string `json:"continuation"`
}

// Entries are the config.json entries of ids (an allow-list), in order; an
// id the catalogue lacks is listed by its id alone.
func Entries(ids []string) []Entry {
	out := make([]Entry, 0, len(ids))
	for _, id := range ids {
		m, ok := Lookup(id)
		if !ok {
			out = append(out, Entry{ID: id, Name: id})
			continue
		}
		out = append(out, Entry{ID: id, Name: m.Name, MaxOutputTokens: m.MaxOutputTokens,
			ContextWindow: m.ContextWindow, Continuation: string(m.Continuation)})
	}
	return out
}
