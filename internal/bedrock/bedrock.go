// Package bedrock is the model provider on Amazon Bedrock's Converse API.
//
// [Model.Generate] calls ConverseStream (or Converse, with
// Options.DisableStreaming) with the job's model id, conversation, system
// prompt, max_tokens and the parameters its model takes, hands each text
// delta to the caller as it arrives, and returns the whole text with the
// model's token usage and stop reason.
//
// # Errors
//
// Bedrock's errors, whether the call fails at once or an exception arrives
// in the middle of the stream, become *jobs.Error values whose kind tells
// the worker what to do and whose message is safe to show the job's owner:
//
//	ThrottlingException, ServiceQuotaExceededException   KindRateLimited  (retry)
//	ServiceUnavailableException, InternalServerException,
//	ModelTimeoutException, ModelNotReadyException,
//	ModelStreamErrorException, ModelErrorException,
//	network errors, a stream that ends early              KindUnavailable  (retry)
//	ValidationException                                    KindInvalid      (fail)
//	AccessDeniedException                                  KindUnauthorized (fail)
//	ResourceNotFoundException                              KindNotFound     (fail)
//	anything else                                          KindInternal     (retry)
//
// The original error stays in the chain (errors.As finds the SDK's type) for
// logs. A validation message from Bedrock is passed on (jobs.Rejected), with
// ARNs and account ids removed, because it usually tells the user what to
// change ("max_tokens exceeds ...", "`temperature` is deprecated for this
// model."); access-denied messages name IAM roles, so they are replaced
// entirely. A cancelled or expired ctx is returned as ctx's error, not
// translated.
//
// The SDK's own retries (AWS_MAX_ATTEMPTS, standard mode by default) happen
// inside one call, before any of this; mid-stream errors are not retried by
// the SDK.
//
// # Refusals
//
// A call whose stop reason says the model declined (jobs.IsRefusal:
// "refusal", which the Claude 5.5 models' safety classifiers give, or
// "content_filtered") returns, with the error jobs.Refused, the text it
// streamed and its tokens: Bedrock bills a refused call's output, and the
// worker fails the job with code refused, without retrying it. The reason
// is read from the messageStop's additionalModelResponseFields, as
// Anthropic's stop_details ({"category": ..., "explanation": ...}) when
// present. Bedrock's side of this is unconfirmed: the SDK's StopReason has
// no "refusal" value, and no AWS document says how Converse passes Claude's
// refusal and its stop_details on.
//
// # The conversation, and continuing
//
// The conversation is jobs.Request.Conversation: the prompt as the user's
// turn and, for a request with Continue set (the text earlier calls
// wrote), that text without its trailing whitespace (Bedrock refuses a
// final assistant turn that ends in whitespace) as the model takes it
// (ContinueBy, from its catalogue entry): a final assistant turn the model
// continues (Prefill), or an earlier assistant turn followed by a user
// turn asking it to continue exactly where it stopped (UserTurn, for the
// Claude 5.5 models, which refuse a prefill). Only the new text is
// returned; the worker joins it on (jobs.Join), dropping the words a
// user-turn continuation repeats.
//
// A system prompt of at least the model's caching minimum (estimated at
// four characters a token) is followed by a cache point, so calls that
// repeat it (a continuation, another job with the same system prompt)
// read it from the prompt cache. Below the minimum Bedrock would cache
// nothing, so no cache point is sent.
//
// # Parameters, thinking and effort
//
// What a call asks besides the conversation is jobs.Request.Params, the
// rule the economy lane's records follow too:
//
//   - temperature only for a model that takes one (the Claude 5.5 models
//     answer any with an error; the API refuses it, so this is defence in
//     depth); a model the catalogue does not know gets it as given;
//   - the effort level as outputConfig.effort, for a model that takes one;
//   - for a model with adaptive thinking that can be turned off, and an
//     effort at which promptq does not let it think
//     (catalogue.Model.ThinksAt), additionalModelRequestFields
//     {"thinking": {"type": "disabled"}}. Converse has no field of its own
//     for thinking; this shape, Anthropic's Messages API field passed
//     through, is third-party (unconfirmed by AWS's documentation).
//
// Reasoning deltas (and reasoning blocks in Converse's answer) are not
// part of the answer: text is picked by block type, since a thinking
// model's first block may be its reasoning.
//
// # Usage
//
// Token counts come from the stream's metadata event (with the cache's
// reads and writes). Thinking is billed as output and is in the output
// count (Converse reports no thinking tokens apart). A call that fails
// before that event returns, with its error, the text it streamed and a
// safe upper bound on its tokens, since Bedrock reports usage only at the
// end: jobs.Request.CutOffTokens, the bytes of the system prompt and the
// conversation as input and the bytes streamed, the answer's and its
// reasoning's (at most max_tokens), as output, the rule reservations
// follow, so a CJK or emoji answer is never charged less than it cost.
// Reasoning whose text the model withholds (Anthropic's display
// "omitted", a signature only) cannot be counted that way: until the
// usage event arrives its tokens are unknown.
package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/jobs"
)

// Options configure a Model.
type Options struct {
	// DisableStreaming uses Converse instead of ConverseStream: the text
	// arrives in one piece at the end, so a job shows no progress. For
	// models or endpoints without streaming.
	DisableStreaming bool
}

// Model generates text with Bedrock. It is safe for concurrent use.
type Model struct {
	client *bedrockruntime.Client
	opts   Options
}

// New returns a Bedrock model provider using client, which should be
// created once per process.
func New(client *bedrockruntime.Client, opts Options) *Model {
	return &Model{client: client, opts: opts}
}

// Generate runs req on Bedrock, calling onDelta with each piece of text; see
// the package comment for its errors.
func (m *Model) Generate(ctx context.Context, req jobs.Request, onDelta func(text string)) (jobs.Progress, error) {
	if m.opts.DisableStreaming {
		return m.converse(ctx, req, onDelta)
	}
	return m.converseStream(ctx, req, onDelta)
}

func (m *Model) converseStream(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	in := input(req)
	out, err := m.client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
		ModelId:                      aws.String(req.Model),
		Messages:                     in.messages,
		System:                       in.system,
		InferenceConfig:              in.inference,
		OutputConfig:                 in.output,
		AdditionalModelRequestFields: in.additional,
	})
	if err != nil {
		return jobs.Progress{}, translate(ctx, err)
	}
	s := &streamed{req: req, onDelta: onDelta}
	stream := out.GetStream()
	defer stream.Close()

	events := stream.Events()
read:
	for {
		select {
		case <-ctx.Done():
			// The SDK would notice too, once the body read fails; don't wait.
			return s.partial(ctx.Err())
		case ev, ok := <-events:
			if !ok {
				break read
			}
			s.take(ev)
		}
	}
	if err := stream.Err(); err != nil {
		return s.partial(translate(ctx, err))
	}
	if err := ctx.Err(); err != nil {
		return s.partial(err)
	}
	if !s.stopped {
		// Without messageStop the text may be cut short: never pass it off
		// as complete.
		return s.partial(&jobs.Error{Kind: jobs.KindUnavailable,
			Message: "The model's response ended before it was complete.",
			Err:     errors.New("bedrock: stream closed without a messageStop event")})
	}
	if s.refusal != nil {
		// Billed all the same: the text and tokens go back with the error.
		return s.partial(s.refusal)
	}
	s.p.GeneratedText = s.text.String()
	return s.p, nil
}

// streamed is what a ConverseStream call has streamed so far.
type streamed struct {
	req     jobs.Request
	onDelta func(string)

	p       jobs.Progress
	text    strings.Builder
	stopped bool // messageStop came
	usage   bool // the metadata event gave the usage
	refusal error
	// reasoned is the bytes of reasoning the model streamed: billed as
	// output, never part of the answer.
	reasoned int
}

// take reads one event of the stream.
func (s *streamed) take(ev types.ConverseStreamOutput) {
	switch v := ev.(type) {
	case *types.ConverseStreamOutputMemberContentBlockDelta:
		// Reasoning and tool-use deltas are not part of the answer.
		switch d := v.Value.Delta.(type) {
		case *types.ContentBlockDeltaMemberText:
			if d.Value != "" {
				s.text.WriteString(d.Value)
				s.onDelta(d.Value)
			}
		case *types.ContentBlockDeltaMemberReasoningContent:
			s.reasoned += reasoningBytes(d.Value)
		}
	case *types.ConverseStreamOutputMemberMessageStop:
		s.p.StopReason = string(v.Value.StopReason)
		s.stopped = true
		if jobs.IsRefusal(s.p.StopReason) {
			s.refusal = jobs.Refused(refusalReason(v.Value.AdditionalModelResponseFields))
		}
	case *types.ConverseStreamOutputMemberMetadata:
		s.p.Tokens, s.usage = tokens(v.Value.Usage), v.Value.Usage != nil
	}
}

// partial is what a call that failed with err returns: the text so far,
// and the tokens the model reported, or else those the text stands for.
func (s *streamed) partial(err error) (jobs.Progress, error) {
	if !s.usage {
		s.p.Tokens = s.req.CutOffTokens(s.text.Len() + s.reasoned)
	}
	s.p.GeneratedText = s.text.String()
	return s.p, err
}

func (m *Model) converse(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	in := input(req)
	out, err := m.client.Converse(ctx, &bedrockruntime.ConverseInput{
		ModelId:                      aws.String(req.Model),
		Messages:                     in.messages,
		System:                       in.system,
		InferenceConfig:              in.inference,
		OutputConfig:                 in.output,
		AdditionalModelRequestFields: in.additional,
	})
	if err != nil {
		return jobs.Progress{}, translate(ctx, err)
	}
	var text strings.Builder
	if msg, ok := out.Output.(*types.ConverseOutputMemberMessage); ok {
		// By type: the first block may be the model's reasoning.
		for _, c := range msg.Value.Content {
			if t, ok := c.(*types.ContentBlockMemberText); ok {
				text.WriteString(t.Value)
			}
		}
	}
	if text.Len() > 0 {
		onDelta(text.String())
	}
	p := jobs.Progress{
		GeneratedText: text.String(),
		Tokens:        tokens(out.Usage),
		StopReason:    string(out.StopReason),
	}
	if jobs.IsRefusal(p.StopReason) {
		return p, jobs.Refused(refusalReason(out.AdditionalModelResponseFields))
	}
	return p, nil
}

// converseInput is the part of a Converse or ConverseStream request that
// comes from the job.
type converseInput struct {
	messages   []types.Message
	system     []types.SystemContentBlock
	inference  *types.InferenceConfiguration
	output     *types.OutputConfig
	additional document.Interface
}

// input is the Converse request for req: its conversation
// (jobs.Request.Conversation: the prompt, and the text so far as the model
// continues it), the system prompt with a cache point when it is long
// enough for the model's prompt cache, and the parameters the model takes
// (jobs.Request.Params); see the package comment.
func input(req jobs.Request) converseInput {
	var in converseInput
	for _, t := range req.Conversation() {
		role := types.ConversationRoleUser
		if t.Role == jobs.RoleAssistant {
			role = types.ConversationRoleAssistant
		}
		in.messages = append(in.messages, types.Message{
			Role:    role,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: t.Text}},
		})
	}
	if req.System != "" {
		in.system = []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: req.System}}
		if m, ok := catalogue.Lookup(req.Model); ok && m.CacheMinTokens > 0 && estimateTokens(req.System) >= m.CacheMinTokens {
			in.system = append(in.system, &types.SystemContentBlockMemberCachePoint{
				Value: types.CachePointBlock{Type: types.CachePointTypeDefault}})
		}
	}
	params := req.Params()
	in.inference = &types.InferenceConfiguration{}
	if req.MaxTokens > 0 {
		in.inference.MaxTokens = aws.Int32(int32(min(req.MaxTokens, 1<<31-1)))
	}
	if params.Temperature != nil {
		in.inference.Temperature = aws.Float32(float32(*params.Temperature))
	}
	if params.Effort != "" || params.TextFormat != nil {
		in.output = &types.OutputConfig{}
	}
	if params.Effort != "" {
		in.output.Effort = aws.String(params.Effort)
	}
	if f := params.TextFormat; f != nil {
		def := types.JsonSchemaDefinition{Schema: aws.String(string(f.Schema))}
		if f.Name != "" {
			def.Name = aws.String(f.Name)
		}
		in.output.TextFormat = &types.OutputFormat{Type: types.OutputFormatTypeJsonSchema,
			Structure: &types.OutputFormatStructureMemberJsonSchema{Value: def}}
	}
	if f := params.AdditionalFields(); f != nil {
		in.additional = document.NewLazyDocument(f)
	}
	return in
}

// reasoningBytes is the size of a reasoning delta's text (or redacted
// content): bytes the model wrote and was billed for as output. A
// signature is no text.
func reasoningBytes(d types.ReasoningContentBlockDelta) int {
	switch r := d.(type) {
	case *types.ReasoningContentBlockDeltaMemberText:
		return len(r.Value)
	case *types.ReasoningContentBlockDeltaMemberRedactedContent:
		return len(r.Value)
	}
	return 0
}

// refusalReason is the reason a refusal's additional response fields give
// (Anthropic's stop_details: {"type": "refusal", "category": ...,
// "explanation": ...}), or "" when they give none. Whether Bedrock passes
// stop_details on in Converse's additionalModelResponseFields is
// unconfirmed; the fields are read when present.
func refusalReason(fields document.Interface) string {
	if fields == nil {
		return ""
	}
	var v struct {
		StopDetails *struct {
			Category    string `json:"category"`
			Explanation string `json:"explanation"`
		} `json:"stop_details"`
	}
	var raw map[string]any
	if err := fields.UnmarshalSmithyDocument(&raw); err != nil {
		return ""
	}
	b, err := json.Marshal(raw)
	if err != nil || json.Unmarshal(b, &v) != nil || v.StopDetails == nil {
		return ""
	}
	d := v.StopDetails
	switch {
	case d.Explanation != "" && d.Category != "":
		return d.Explanation + " (category: " + d.Category + ")"
	case d.Category != "":
		return "category: " + d.Category
	}
	return d.Explanation
}

func tokens(u *types.TokenUsage) jobs.Tokens {
	if u == nil {
		return jobs.Tokens{}
	}
	return jobs.Tokens{
		Input:      int(aws.ToInt32(u.InputTokens)),
		Output:     int(aws.ToInt32(u.OutputTokens)),
		CacheRead:  int(aws.ToInt32(u.CacheReadInputTokens)),
		CacheWrite: int(aws.ToInt32(u.CacheWriteInputTokens)),
	}
}

// estimateTokens estimates s's tokens at four characters a token, the
// rule of thumb for English text (jobs.Request.TokenBudget uses it too).
// It only decides whether a system prompt is worth a cache point, where a
// wrong guess costs a cache miss or an unused cache point; nothing is
// charged by it (a cut-off call is charged jobs.Request.CutOffTokens).
func estimateTokens(s string) int { return (utf8.RuneCountInString(s) + 3) / 4 }

// translate turns an error from the SDK into a *jobs.Error (see the package
// comment), or returns ctx's error if ctx is done.
func translate(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return ctxErr
	}
	kind, msg := classify(err)
	return &jobs.Error{Kind: kind, Message: msg, Err: err}
}

func classify(err error) (jobs.Kind, string) {
	var (
		throttling    *types.ThrottlingException
		quota         *types.ServiceQuotaExceededException
		unavailable   *types.ServiceUnavailableException
		internal      *types.InternalServerException
		timeout       *types.ModelTimeoutException
		notReady      *types.ModelNotReadyException
		streamErr     *types.ModelStreamErrorException
		modelErr      *types.ModelErrorException
		validation    *types.ValidationException
		denied        *types.AccessDeniedException
		notFound      *types.ResourceNotFoundException
		invalidParams smithy.InvalidParamsError
		apiErr        smithy.APIError
		netErr        net.Error
	)
	switch {
	case errors.As(err, &throttling):
		return jobs.KindRateLimited, "The model is receiving too many requests right now."
	case errors.As(err, &quota):
		return jobs.KindRateLimited, "The model's usage quota is used up for now."
	case errors.As(err, &unavailable):
		return jobs.KindUnavailable, "The model service is temporarily unavailable."
	case errors.As(err, &internal):
		return jobs.KindUnavailable, "The model service had an internal error."
	case errors.As(err, &timeout):
		return jobs.KindUnavailable, "The model took too long to respond."
	case errors.As(err, &notReady):
		return jobs.KindUnavailable, "The model is not ready yet."
	case errors.As(err, &streamErr):
		return jobs.KindUnavailable, "The model's response stream broke off."
	case errors.As(err, &modelErr):
		return jobs.KindUnavailable, "The model failed while processing the request."
	case errors.As(err, &validation):
		return jobs.KindInvalid, jobs.Rejected(validation.ErrorMessage(), err).Message
	case errors.As(err, &denied):
		return jobs.KindUnauthorized, "This service is not allowed to use the requested model."
	case errors.As(err, &notFound):
		return jobs.KindNotFound, "The requested model was not found or is not available in this region."
	case errors.As(err, &invalidParams):
		return jobs.KindInvalid, "The request is missing something the model needs (such as a model id)."
	case errors.As(err, &apiErr):
		if apiErr.ErrorFault() == smithy.FaultServer {
			return jobs.KindUnavailable, "The model service had an error."
		}
		return jobs.KindInternal, "The model call failed."
	case errors.As(err, &netErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED):
		return jobs.KindUnavailable, "The model service could not be reached."
	}
	return jobs.KindInternal, "The model call failed."
}
