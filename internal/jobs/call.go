package jobs

import "github.com/promptq/promptq/internal/catalogue"

// The roles of a conversation's turns, spelled as Converse spells them.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Turn is one turn of the conversation a call sends its model.
type Turn struct {
	Role string // RoleUser or RoleAssistant
	Text string
}

// Conversation is the turns a call of r sends its model: the prompt as
// the user's turn, then, when r continues an answer (Continue), the text
// so far the way its model takes it (ContinueBy):
//
//   - Prefill: the text as the assistant's turn, which the model goes on
//     with (the conversation ends on it);
//   - UserTurn: the text as the assistant's earlier turn, then
//     ContinueTurn as the user's, so the conversation ends on a user turn
//     (a model that takes no prefill refuses any other).
//
// The text is given without its trailing whitespace (Prefill: Bedrock
// refuses a final assistant turn that ends in whitespace); a Continue of
// whitespace only continues nothing. Every model adapter (internal/bedrock,
// the economy lane's records, the local model) builds its request from
// it, so the rule is in one place.
func (r Request) Conversation() []Turn {
	turns := []Turn{{Role: RoleUser, Text: r.Prompt}}
	so := Prefill(r.Continue)
	if so == "" {
		return turns
	}
	turns = append(turns, Turn{Role: RoleAssistant, Text: so})
	if r.ContinueBy == catalogue.UserTurn {
		turns = append(turns, Turn{Role: RoleUser, Text: ContinueTurn})
	}
	return turns
}

// Params are what a call of r asks of its model besides the conversation,
// decided by the model's catalogue entry. internal/bedrock sends them on
// demand and internal/bedrockbatch writes them into the economy lane's
// records, so one rule decides both.
type Params struct {
	// Temperature is r's, or nil when r has none or its model takes none
	// (the Claude 5.5 models answer any temperature with an error). The
	// API refuses such a request; this keeps one that got past it (an
	// old job, a client writing to the table) from failing at Bedrock. A
	// model the catalogue does not know gets r's as given.
	Temperature *float64
	// Effort is the effort level to ask for (Converse's
	// outputConfig.effort): r's, or promptq's default for a model that
	// takes one (catalogue.Model.EffortOr); "" sends none. A model the
	// catalogue does not know gets r's as given.
	Effort string
	// ThinkingOff is the "thinking" type that turns the model's adaptive
	// thinking off (its catalogue Thinking.Off), set when the model can
	// turn it off and promptq does not let it think at Effort
	// (catalogue.Model.ThinksAt); "" sends none, and a model with adaptive
	// thinking then thinks.
	ThinkingOff string
	// Thinks reports whether the model thinks on this call: its thinking
	// is billed as output and counts against max_tokens.
	Thinks bool
	// TextFormat is the schema the call's answer must conform to
	// (Converse's outputConfig.textFormat), nil for text. A call that
	// continues an answer sends none: the model's decoding is held to the
	// schema from the answer's first character, so under it a
	// continuation would start a new JSON value (and Anthropic documents
	// JSON outputs as incompatible with a prefill). It is asked, as any
	// continuation is, to go on with the text, and the joined answer is
	// checked against the schema (ResponseFormat.Check).
	TextFormat *ResponseFormat
}

// Params are the parameters a call of r sends its model; see Params.
func (r Request) Params() Params {
	var format *ResponseFormat
	if Prefill(r.Continue) == "" {
		format = r.ResponseFormat
	}
	m, known := catalogue.Lookup(r.Model)
	if !known {
		return Params{Temperature: r.Temperature, Effort: r.Effort, TextFormat: format}
	}
	p := Params{Effort: m.EffortOr(r.Effort), TextFormat: format}
	if m.Temperature {
		p.Temperature = r.Temperature
	}
	p.Thinks = m.ThinksAt(p.Effort)
	if m.Thinking.Adaptive && m.Thinking.Off != "" && !p.Thinks {
		p.ThinkingOff = m.Thinking.Off
	}
	return p
}

// AdditionalFields is the Converse request's additionalModelRequestFields
// for p: {"thinking": {"type": ThinkingOff}}, or nil when nothing is to be
// sent. The shape is Anthropic's Messages API field passed through
// Converse, which third parties report works; no AWS document confirms it
// (unconfirmed).
func (p Params) AdditionalFields() map[string]any {
	if p.ThinkingOff == "" {
		return nil
	}
	return map[string]any{"thinking": map[string]any{"type": p.ThinkingOff}}
}
