// Package catalogue is the one list of the models promptq may call, and of
// what each accepts: for each, its Bedrock id, the name people know it by,
// its limits, whether it takes a temperature, how a generation that
// stopped early goes on, its thinking and effort levels, whether it writes
// JSON to a schema, its prompt-caching minimum, its list prices (with the
// band above which a request costs more), batch inference, its tokenizer
// and its lifecycle, each fact with its source and whether a primary
// source confirmed it. The API validates requests against it, the worker
// decides continuation, thinking and caching by it, the stack checks its
// allow-list and writes the web app's model list from it, budgets and
// usage price tokens by it, and scripts/measure/cost prices tokens with it.
// It imports nothing, so the stack's module can use it too.
//
// Each entry is a foundation model; a request may name it directly or
// through a cross-region inference profile ("us.", "eu.", "global." ...
// before the id), which [Lookup] resolves to the same entry.
//
// Facts come from the models' cards in the Bedrock user guide, Anthropic's
// model pages and migration guides, and the aws-sdk-go-v2 source (December
// 2026). A fact no primary source confirmed from here has Confirmed false
// in its Source, and the docs say so.
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
	// UserTurn: the model refuses a prefilled assistant turn (Claude 4.6
	// and later: "This model does not support assistant message prefill.
	// The conversation must end with a user message."), so the next call
	// gives the text so far as an earlier assistant turn, then a user turn
	// asking the model to continue exactly where it stopped; what it
	// writes is joined on without the words it repeats (jobs.Join). As
	// with Prefill, the text only grows and no word is paid for twice as
	// output; the text so far is paid again as input.
	UserTurn Continuation = "user_turn"
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

// Times is p with every price multiplied by f.
func (p Prices) Times(f float64) Prices {
	return Prices{Input: p.Input * f, Output: p.Output * f, CacheRead: p.CacheRead * f, CacheWrite: p.CacheWrite * f}
}

// BatchDiscount is the share of the on-demand price Bedrock's batch
// inference (the economy lane) charges for the same tokens: half, as
// BatchPriceSource says.
const BatchDiscount = 0.5

// BatchPriceSource says where BatchDiscount comes from.
var BatchPriceSource = Source{Confirmed: false, Ref: "50% of on-demand for input and output tokens: Anthropic's " +
	"Message Batches (its Opus 5.5 and Sonnet 5.5 pages: \"Batch API – 50% discount\") and third-party pages on " +
	"Bedrock (wring.co, \"AWS Bedrock Batch Inference\", 2026-03); aws.amazon.com/bedrock/pricing could not be read from here"}

// BatchStructuredOutputSource says where it comes from that Bedrock's batch
// inference takes a Converse record's outputConfig.textFormat (the economy
// lane's structured results).
var BatchStructuredOutputSource = Source{Confirmed: false, Ref: "the newer version of Bedrock's batch inference page " +
	"(docs.aws.amazon.com/bedrock/latest/userguide/batch-inference.html): \"Structured outputs are supported with both " +
	"invocation types\"; an older version (docs.aws.amazon.com/us_en/bedrock/latest/userguide/batch-inference.html) says " +
	"batch inference does not support structured output; not tried on Bedrock from here"}

// Batch is p at Bedrock's batch inference price (BatchDiscount of each).
func (p Prices) Batch() Prices { return p.Times(BatchDiscount) }

// Source is where a fact comes from. Confirmed is false when no primary
// source (the model's Bedrock card, Anthropic's documentation, the SDK's
// source) confirmed it from here: the fact is the best found, and the
// docs mark it.
type Source struct {
	Ref       string
	Confirmed bool
}

// Sources says where each of an entry's facts comes from.
type Sources struct {
	ID, Limits, Sampling, Continuation, Thinking, StructuredOutput,
	Caching, Prices, LongContext, Batch, Tokenizer, Lifecycle Source
}

// The effort levels of Claude's effort parameter (Converse's
// OutputConfig.Effort), least to most.
const (
	EffortLow    = "low"
	EffortMedium = "medium"
	EffortHigh   = "high"
	EffortXHigh  = "xhigh"
	EffortMax    = "max"
)

// Efforts5 are the effort levels the Claude 5.5 models accept.
var Efforts5 = []string{EffortLow, EffortMedium, EffortHigh, EffortXHigh, EffortMax}

// Thinking is how a model reasons before it answers.
type Thinking struct {
	// Adaptive: the model thinks when it judges it useful, on by default.
	// Its thinking tokens are billed as output and count against
	// max_tokens.
	Adaptive bool
	// Off is how the model's thinking is turned off (Converse's
	// additionalModelRequestFields "thinking" type): "disabled"; "" when
	// it cannot be (always on, or a model without adaptive thinking).
	Off string
	// OffMaxEffort is the highest effort the model takes with thinking
	// off (its card: "effort capped at high when thinking is disabled").
	OffMaxEffort string
	// Efforts are the effort levels the model accepts, least to most;
	// nil: it has no effort parameter.
	Efforts []string
	// DefaultEffort is the model's own default level.
	DefaultEffort string
}

// Lifecycle is a model's state on Bedrock.
type Lifecycle struct {
	// State is "active" or "legacy".
	State string
	// EndOfLife is when Bedrock stops serving it ("2027-10-07"), or "" when
	// no date is known; EOLAtEarliest marks a "no sooner than" date.
	EndOfLife     string
	EOLAtEarliest bool
	// Note is what else a person choosing it should know ("" if nothing).
	Note string
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
	// Temperature says whether the model takes a temperature (the Claude
	// 5.5 models return an error for temperature, top_p and top_k, so
	// promptq refuses them at submit).
	Temperature bool
	// Continuation says how a stopped generation goes on.
	Continuation Continuation
	// Thinking is the model's reasoning and effort levels.
	Thinking Thinking
	// StructuredOutput: the model writes JSON to a schema (Converse's
	// OutputConfig.TextFormat).
	StructuredOutput bool
	// CacheMinTokens is the fewest tokens a prompt-cache checkpoint needs
	// (below it Bedrock silently caches nothing); 0: no prompt caching.
	CacheMinTokens int
	// Prices are the model's list prices (on-demand, per million tokens)
	// for a request whose prompt is at most LongContextAbove tokens.
	Prices Prices
	// LongContextAbove is the prompt size, in tokens (input, cache reads
	// and writes), above which a whole request is billed at
	// LongContextFactor times Prices (its output included); 0: one price
	// whatever the size.
	LongContextAbove  int
	LongContextFactor float64
	// Batch says whether Bedrock's batch inference (the economy lane) runs
	// the model, at Prices.Batch.
	Batch bool
	// TokensPerByte bounds the tokens the model's tokenizer makes of a
	// text: at most this many per UTF-8 byte (Claude's tokenizers are
	// byte-level BPE with byte fallback, so every token covers at least
	// one byte). Budgets reserve a prompt's bytes times it.
	TokensPerByte float64
	// TokenizerNote says how the model's tokenizer counts against others,
	// and TokenizerFactor is that in a number: the tokens it counts for a
	// text that Claude Haiku 4.5's tokenizer counts as 1 (1.3 for the
	// Claude 4.7-and-later tokenizer). A cost per job given in Haiku 4.5's
	// tokens is priced at this many of the model's.
	TokenizerNote   string
	TokenizerFactor float64
	// Lifecycle is the model's state on Bedrock.
	Lifecycle Lifecycle
	// Local marks the development stand-in (internal/dev/localmodel), which
	// Bedrock does not know: the stack refuses it.
	Local bool
	// Sources says where the facts above come from.
	Sources Sources
}

// PrefillRejection is Bedrock's message (a ValidationException) for a
// conversation that ends on an assistant turn, sent to a model that takes
// no prefill (Continuation UserTurn). Third-party: many reports quote it
// word for word (for Claude Opus 4.6 and later on Bedrock); no primary
// source gives the text. The stand-ins answer with it.
const PrefillRejection = "The model returned the following errors: This model does not support assistant message prefill. " +
	"The conversation must end with a user message."

// SamplingRejection is Bedrock's message (a ValidationException) for a
// sampling parameter ("temperature", "top_p", "top_k") sent to a model
// that takes none (Temperature false). Third-party, as PrefillRejection:
// reports quote it for temperature on the Claude 5 family on Bedrock.
func SamplingRejection(param string) string {
	return "The model returned the following errors: `" + param + "` is deprecated for this model."
}

// LocalID is the id of the local stand-in model (internal/dev/localmodel).
const LocalID = "promptq-local"

// DefaultModel is the model a request gets when it names none: Claude
// Haiku 5.5 through its US cross-region inference profile, the cheapest
// current Claude model (a tenth of Haiku 4.5's price), which writes up to
// 128K tokens; promptq runs it at DefaultEffort with thinking off.
const DefaultModel = "us.anthropic.claude-haiku-5-5"

// DefaultModels is the models a deployment allows unless told otherwise
// (the API's PROMPTQ_MODELS, the stack's promptq:models): the default,
// and Claude Haiku 4.5, which takes a temperature and a prefill and
// stays selectable. The larger models (Sonnet 5.5 at 20 times Haiku
// 5.5's price, Opus 5.5 at 40 times) are an operator's choice: a daily
// budget counts tokens, not dollars.
var DefaultModels = []string{DefaultModel, "us.anthropic.claude-haiku-4-5-20251001-v1:0"}

// DefaultEffort is the effort promptq asks of a model that takes one when
// a request names none: the models' own default for content generation,
// run without thinking where the model allows it (Model.ThinksAt).
const DefaultEffort = EffortMedium

// Sources shared by several entries.
var (
	haiku55Card = "Bedrock model card model-card-anthropic-claude-haiku-5-5"
	migration55 = "Anthropic's Claude Haiku 5.5 migration guide (platform.claude.com/docs/models/haiku-5-5/migration-guide)"
	byteBPE     = Source{Confirmed: false, Ref: "Claude's tokenizers are byte-level BPE with byte fallback, so a token " +
		"covers at least one byte of text; Anthropic does not publish its tokenizers, so no primary source states the bound"}
	tokenizer47 = "uses the tokenizer of Claude 4.7 and later: the same text counts about 30% more tokens than on Haiku 4.5"
)

// models is the catalogue. Prices are Anthropic's list prices; Bedrock's
// on-demand prices for these models could not be read from here (a
// third-party proxy lists 1.1x for regional endpoints): see each Source.
var models = []Model{
	{
		ID:               "anthropic.claude-haiku-5-5",
		Name:             "Claude Haiku 5.5",
		MaxOutputTokens:  128_000,
		ContextWindow:    1_000_000,
		Temperature:      false,
		Continuation:     UserTurn,
		Thinking:         Thinking{Adaptive: true, Off: "disabled", OffMaxEffort: EffortHigh, Efforts: Efforts5, DefaultEffort: EffortMedium},
		StructuredOutput: true,
		CacheMinTokens:   4_096,
		Prices:           Prices{Input: 0.10, Output: 0.50, CacheRead: 0.01, CacheWrite: 0.125},
		LongContextAbove: 100_000, LongContextFactor: 5,
		Batch:           true,
		TokensPerByte:   1,
		TokenizerNote:   tokenizer47,
		TokenizerFactor: 1.3,
		Lifecycle:       Lifecycle{State: "active", EndOfLife: "2027-10-07", EOLAtEarliest: true},
		Sources: Sources{
			ID:           Source{Confirmed: true, Ref: migration55 + " (Bedrock id anthropic.claude-haiku-5-5); the us./eu./global. profiles from third-party code (the card's id table could not be read)"},
			Limits:       Source{Confirmed: true, Ref: haiku55Card + ": 1M context, 128K output"},
			Sampling:     Source{Confirmed: true, Ref: migration55 + ": temperature, top_p and top_k return errors"},
			Continuation: Source{Confirmed: true, Ref: migration55 + ": a prefilled assistant turn is an error; end with a user turn"},
			Thinking: Source{Confirmed: true, Ref: haiku55Card + ": adaptive thinking on by default and can be turned off; effort low, medium, high, xhigh, max; " +
				"default medium; capped at high with thinking off. The Converse field for thinking off (additionalModelRequestFields thinking.type disabled) is third-party"},
			StructuredOutput: Source{Confirmed: false, Ref: "Converse OutputConfig.TextFormat (aws-sdk-go-v2 bedrockruntime v1.49.0); " +
				"native support for Haiku 5.5 on Bedrock: third-party (Vercel AI SDK, 2026-11-03), not in Anthropic's list"},
			Caching: Source{Confirmed: false, Ref: "minimum unconfirmed: 4,096 assumed (Haiku 4.5's) so a checkpoint is never placed below it"},
			Prices: Source{Confirmed: true, Ref: "Anthropic's Haiku 5.5 overview: $0.10 in, $0.50 out, $0.125 cache write (5 min); " +
				"cache read $0.01 third-party; Bedrock's own price unconfirmed"},
			LongContext: Source{Confirmed: true, Ref: "Anthropic's Haiku 5.5 overview: every price 5x for prompts over 100,000 tokens (the whole request)"},
			Batch:       Source{Confirmed: false, Ref: "batch inference support for Haiku 5.5 on Bedrock could not be read from the supported-models table"},
			Tokenizer:   byteBPE,
			Lifecycle:   Source{Confirmed: true, Ref: haiku55Card + ": launched 2026-10-07, EOL no sooner than 2027-10-07, Active"},
		},
	},
	{
		ID:               "anthropic.claude-sonnet-5-5",
		Name:             "Claude Sonnet 5.5",
		MaxOutputTokens:  128_000,
		ContextWindow:    1_000_000,
		Temperature:      false,
		Continuation:     UserTurn,
		Thinking:         Thinking{Adaptive: true, Efforts: Efforts5, DefaultEffort: EffortHigh},
		StructuredOutput: true,
		CacheMinTokens:   4_096,
		Prices:           Prices{Input: 2, Output: 10, CacheRead: 0.20, CacheWrite: 2.50},
		Batch:            true,
		TokensPerByte:    1,
		TokenizerNote:    tokenizer47,
		TokenizerFactor:  1.3,
		Lifecycle:        Lifecycle{State: "active", EndOfLife: "2027-09-28", EOLAtEarliest: true},
		Sources: Sources{
			ID:           Source{Confirmed: false, Ref: "third-party (Vercel AI SDK release notes 2026-09-28): the card's id table could not be read"},
			Limits:       Source{Confirmed: true, Ref: "Anthropic's model overview: 1M context, 128K output"},
			Sampling:     Source{Confirmed: true, Ref: "Anthropic's model pages: the 5.5 models reject temperature, top_p and top_k"},
			Continuation: Source{Confirmed: true, Ref: "Anthropic: prefill removed from Claude 4.6 on"},
			Thinking: Source{Confirmed: true, Ref: "Anthropic's overview: adaptive, default effort high; thinking cannot be disabled " +
				"(the lowest setting is between_tools, for tool use)"},
			StructuredOutput: Source{Confirmed: false, Ref: "Converse OutputConfig.TextFormat; support for Sonnet 5.5 on Bedrock third-party"},
			Caching:          Source{Confirmed: false, Ref: "minimum unconfirmed: 4,096 assumed"},
			Prices: Source{Confirmed: true, Ref: "Anthropic's Sonnet 5.5 overview: $2 in, $10 out, $2.50 cache write; " +
				"cache read $0.20 there ($0.10 after 2026-10-07 per third parties); Bedrock's own price unconfirmed"},
			LongContext: Source{Confirmed: false, Ref: "third-party: one price over the whole 1M window"},
			Batch:       Source{Confirmed: false, Ref: "batch inference support on Bedrock could not be read"},
			Tokenizer:   byteBPE,
			Lifecycle:   Source{Confirmed: false, Ref: "Google's page for the model: retirement not sooner than 2027-09-28; the Bedrock card could not be read"},
		},
	},
	{
		ID:               "anthropic.claude-opus-5-5",
		Name:             "Claude Opus 5.5",
		MaxOutputTokens:  128_000,
		ContextWindow:    1_000_000,
		Temperature:      false,
		Continuation:     UserTurn,
		Thinking:         Thinking{Adaptive: true, Efforts: Efforts5, DefaultEffort: EffortMedium},
		StructuredOutput: true,
		CacheMinTokens:   4_096,
		Prices:           Prices{Input: 4, Output: 20, CacheRead: 0.20, CacheWrite: 5},
		Batch:            true,
		TokensPerByte:    1,
		TokenizerNote:    tokenizer47,
		TokenizerFactor:  1.3,
		Lifecycle:        Lifecycle{State: "active", EndOfLife: "2027-09-22", EOLAtEarliest: true},
		Sources: Sources{
			ID:               Source{Confirmed: false, Ref: "third-party (Vercel AI SDK; model catalogues citing the card)"},
			Limits:           Source{Confirmed: true, Ref: "Bedrock model card model-card-anthropic-claude-opus-5-5: 1M context, 128K output"},
			Sampling:         Source{Confirmed: true, Ref: "Anthropic's model pages: the 5.5 models reject temperature, top_p and top_k"},
			Continuation:     Source{Confirmed: true, Ref: "Anthropic: prefill removed from Claude 4.6 on"},
			Thinking:         Source{Confirmed: true, Ref: "Bedrock model card: adaptive thinking always on, cannot be disabled; default effort medium"},
			StructuredOutput: Source{Confirmed: false, Ref: "Converse OutputConfig.TextFormat; support for Opus 5.5 on Bedrock third-party"},
			Caching:          Source{Confirmed: false, Ref: "minimum unconfirmed: 4,096 assumed"},
			Prices: Source{Confirmed: true, Ref: "Anthropic's Opus 5.5 overview: $4 in, $20 out, $5 cache write, " +
				"$0.20 cache read; Bedrock's own price unconfirmed"},
			LongContext: Source{Confirmed: false, Ref: "third-party: one price over the whole 1M window"},
			Batch:       Source{Confirmed: false, Ref: "batch inference support on Bedrock could not be read"},
			Tokenizer:   byteBPE,
			Lifecycle:   Source{Confirmed: true, Ref: "Bedrock model card: launched 2026-09-22, EOL no sooner than 2027-09-22"},
		},
	},
	{
		ID:               "anthropic.claude-haiku-4-5-20251001-v1:0",
		Name:             "Claude Haiku 4.5",
		MaxOutputTokens:  64_000,
		ContextWindow:    200_000,
		Temperature:      true,
		Continuation:     Prefill,
		StructuredOutput: true,
		CacheMinTokens:   4_096,
		Prices:           Prices{Input: 1, Output: 5, CacheRead: 0.10, CacheWrite: 1.25},
		Batch:            true,
		TokensPerByte:    1,
		Lifecycle: Lifecycle{State: "active",
			Note: "Legacy on Anthropic's own API; Claude Haiku 5.5 costs a tenth. Bedrock's card gave no end of life before 2026-10-01; no later date could be read"},
		Sources: Sources{
			ID:               Source{Confirmed: true, Ref: "Bedrock model card model-card-anthropic-claude-haiku-4-5 (us./eu./global. profiles)"},
			Limits:           Source{Confirmed: true, Ref: "Bedrock model card: 200K context, 64K output"},
			Sampling:         Source{Confirmed: true, Ref: "Anthropic's Messages API: temperature 0 to 1"},
			Continuation:     Source{Confirmed: true, Ref: "Anthropic's prefill guide (Claude 3.x to 4.5)"},
			Thinking:         Source{Confirmed: true, Ref: "extended thinking only when asked for (budget_tokens), which promptq never does"},
			StructuredOutput: Source{Confirmed: true, Ref: "Anthropic's structured outputs page: GA on Amazon Bedrock for Claude Haiku 4.5"},
			Caching:          Source{Confirmed: true, Ref: "Bedrock model card: cache checkpoint minimum 4,096 tokens"},
			Prices:           Source{Confirmed: true, Ref: "Anthropic's pricing page: $1/$5, cache write $1.25, read $0.10"},
			LongContext:      Source{Confirmed: true, Ref: "one price for its 200K window"},
			Batch:            Source{Confirmed: false, Ref: "run by the economy lane's design; the supported-models table could not be read"},
			Tokenizer:        byteBPE,
			Lifecycle: Source{Confirmed: false, Ref: "Bedrock card snapshot: EOL no sooner than 2026-10-01, Active; no later lifecycle table " +
				"could be read. Anthropic's API: Legacy, no retirement date"},
		},
	},
	{
		ID:               "anthropic.claude-sonnet-4-5-20250929-v1:0",
		Name:             "Claude Sonnet 4.5",
		MaxOutputTokens:  64_000,
		ContextWindow:    200_000,
		Temperature:      true,
		Continuation:     Prefill,
		StructuredOutput: true,
		CacheMinTokens:   1_024,
		Prices:           Prices{Input: 3, Output: 15, CacheRead: 0.30, CacheWrite: 3.75},
		Batch:            true,
		TokensPerByte:    1,
		Lifecycle: Lifecycle{State: "legacy",
			Note: "Retired on Anthropic's own API on 2026-11-30; Bedrock sets its own date"},
		Sources: Sources{
			ID:               Source{Confirmed: true, Ref: "Anthropic's Claude on Amazon Bedrock page"},
			Limits:           Source{Confirmed: true, Ref: "Anthropic's model overview: 200K context, 64K output"},
			Sampling:         Source{Confirmed: true, Ref: "Anthropic's Messages API: temperature 0 to 1"},
			Continuation:     Source{Confirmed: true, Ref: "Anthropic's prefill guide (Claude 3.x to 4.5)"},
			Thinking:         Source{Confirmed: true, Ref: "extended thinking only when asked for, which promptq never does"},
			StructuredOutput: Source{Confirmed: true, Ref: "Anthropic's structured outputs page: GA on Amazon Bedrock for Claude Sonnet 4.5"},
			Caching:          Source{Confirmed: false, Ref: "1,024 from Anthropic's prompt-caching page; Bedrock's card unconfirmed"},
			Prices:           Source{Confirmed: true, Ref: "Anthropic's pricing page: $3/$15"},
			LongContext:      Source{Confirmed: true, Ref: "one price for its 200K window"},
			Batch:            Source{Confirmed: false, Ref: "the supported-models table could not be read"},
			Tokenizer:        byteBPE,
			Lifecycle:        Source{Confirmed: true, Ref: "Anthropic's Sonnet 4.5 page: deprecated, retires 2026-11-30 on Anthropic-operated platforms"},
		},
	},
	{
		ID:              LocalID,
		Name:            "promptq local model (not a real LLM)",
		MaxOutputTokens: 64_000,
		ContextWindow:   200_000,
		Temperature:     true,
		Continuation:    Prefill,
		// It answers a schema with a value that conforms to it.
		StructuredOutput: true,
		TokensPerByte:    1,
		Lifecycle:        Lifecycle{State: "active"},
		Local:            true,
		Sources:          Sources{ID: Source{Confirmed: true, Ref: "internal/dev/localmodel"}},
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

// TakesEffort reports whether the model accepts effort level e.
func (m Model) TakesEffort(e string) bool { return slices.Contains(m.Thinking.Efforts, e) }

// EffortOr is the effort a request naming e (or none: "") runs at on m:
// e, or promptq's DefaultEffort where m takes efforts; "" where it takes
// none.
func (m Model) EffortOr(e string) string {
	switch {
	case len(m.Thinking.Efforts) == 0:
		return ""
	case e != "":
		return e
	}
	return DefaultEffort
}

// ThinksAt reports whether promptq lets m think at effort e: a model with
// adaptive thinking thinks unless it can be turned off and e is within
// what the model takes with thinking off. promptq turns it off where it
// can: content generation rarely needs it, its tokens are billed as
// output, and it delays the first words a person sees.
func (m Model) ThinksAt(e string) bool {
	t := m.Thinking
	if !t.Adaptive {
		return false
	}
	if t.Off == "" {
		return true
	}
	return effortRank(e) > effortRank(t.OffMaxEffort)
}

func effortRank(e string) int { return slices.Index(Efforts5, e) }

// Tokenizer is m's TokenizerFactor, 1 when the catalogue gives none.
func (m Model) Tokenizer() float64 {
	if m.TokenizerFactor > 0 {
		return m.TokenizerFactor
	}
	return 1
}

// PriceFor is m's prices for a request whose prompt (input, cache reads
// and writes) is promptTokens, and whether that is the long-context band.
func (m Model) PriceFor(promptTokens int) (Prices, bool) {
	if m.LongContextAbove > 0 && promptTokens > m.LongContextAbove {
		return m.Prices.Times(m.LongContextFactor), true
	}
	return m.Prices, false
}

// BudgetFactor is what a request's tokens count against a daily token
// budget on m when its prompt is promptTokens: 1, or LongContextFactor in
// the long-context band, whose tokens cost that much more. Budgets count
// tokens at the base band's price.
func (m Model) BudgetFactor(promptTokens int) int {
	if _, long := m.PriceFor(promptTokens); long {
		return int(m.LongContextFactor + 0.5)
	}
	return 1
}

// Entry is one model of the web app's config.json "models" list
// (web/js/config.js reads it).
type Entry struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	MaxOutputTokens int    `json:"max_output_tokens"`
	ContextWindow   int    `json:"context_window"`
	Continuation    string `json:"continuation"`
	// Temperature says whether the model takes a temperature; Efforts
	// which effort levels it takes (none: no effort choice), and
	// DefaultEffort the one promptq uses when none is chosen.
	// ThinkingEfforts are the levels at which promptq lets the model
	// think (Model.ThinksAt), so the page can say which choices bill
	// thinking as output.
	Temperature     bool     `json:"temperature"`
	Efforts         []string `json:"efforts,omitempty"`
	DefaultEffort   string   `json:"default_effort,omitempty"`
	ThinkingEfforts []string `json:"thinking_efforts,omitempty"`
	// InputPrice and OutputPrice are dollars per million tokens (0 for
	// the local stand-in, which costs nothing); LongContextAbove the
	// prompt size above which they are LongContextFactor times that.
	InputPrice        float64 `json:"input_price_per_mtok"`
	OutputPrice       float64 `json:"output_price_per_mtok"`
	LongContextAbove  int     `json:"long_context_above,omitempty"`
	LongContextFactor float64 `json:"long_context_factor,omitempty"`
	// EndOfLife and Lifecycle are what Bedrock says of the model's life.
	EndOfLife     string `json:"end_of_life,omitempty"`
	EOLAtEarliest bool   `json:"end_of_life_at_earliest,omitempty"`
	Lifecycle     string `json:"lifecycle,omitempty"`
	Local         bool   `json:"local,omitempty"`
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
			ContextWindow: m.ContextWindow, Continuation: string(m.Continuation),
			Temperature: m.Temperature, Efforts: m.Thinking.Efforts, DefaultEffort: m.EffortOr(""),
			InputPrice: m.Prices.Input, OutputPrice: m.Prices.Output,
			LongContextAbove: m.LongContextAbove, LongContextFactor: m.LongContextFactor,
			EndOfLife: m.Lifecycle.EndOfLife, EOLAtEarliest: m.Lifecycle.EOLAtEarliest, Lifecycle: m.Lifecycle.State,
			Local: m.Local, ThinkingEfforts: m.thinkingEfforts()})
	}
	return out
}

// thinkingEfforts are the effort levels m takes at which it thinks.
func (m Model) thinkingEfforts() []string {
	var out []string
	for _, e := range m.Thinking.Efforts {
		if m.ThinksAt(e) {
			out = append(out, e)
		}
	}
	return out
}
