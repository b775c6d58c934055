// Package bedrock is the model provider on Amazon Bedrock's Converse API.
//
// [Model.Generate] calls ConverseStream (or Converse, with
// Options.DisableStreaming) with the job's model id, system prompt,
// max_tokens and temperature, hands each text delta to the caller as it
// arrives, and returns the whole text with the model's token usage and stop
// reason.
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
// logs. A validation message from Bedrock is passed on, with ARNs and account
// ids removed, because it usually tells the user what to change
// ("max_tokens exceeds ..."); access-denied messages name IAM roles, so they
// are replaced entirely. A cancelled or expired ctx is returned as ctx's
// error, not translated.
//
// The SDK's own retries (AWS_MAX_ATTEMPTS, standard mode by default) happen
// inside one call, before any of this; mid-stream errors are not retried by
// the SDK.
//
// # Continuing, and caching
//
// A request with Continue set (the text earlier calls wrote) ends its
// conversation with an assistant turn holding that text, without its
// trailing whitespace (Bedrock refuses a final assistant turn that ends in
// whitespace), and the model continues it; only the new text is returned.
// The worker sets Continue only for models whose catalogue entry says they
// accept it (internal/catalogue).
//
// A system prompt of at least the model's caching minimum (estimated at
// four characters a token) is followed by a cache point, so calls that
// repeat it (a continuation, another job with the same system prompt)
// read it from the prompt cache. Below the minimum Bedrock would cache
// nothing, so no cache point is sent.
//
// # Usage
//
// Token counts come from the stream's metadata event (with the cache's
// reads and writes). A call that fails before that event returns, with its
// error, the text it streamed and a safe upper bound on its tokens, since
// Bedrock reports usage only at the end: jobs.Request.CutOffTokens, the
// bytes of the prompt, system prompt and continued text as input and the
// bytes streamed (at most max_tokens) as output, the rule reservations
// follow, so a CJK or emoji answer is never charged less than it cost.
package bedrock

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
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
	messages, system, inference := input(req)
	out, err := m.client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
		ModelId:         aws.String(req.Model),
		Messages:        messages,
		System:          system,
		InferenceConfig: inference,
	})
	if err != nil {
		return jobs.Progress{}, translate(ctx, err)
	}
	var (
		p       jobs.Progress
		text    strings.Builder
		stopped bool
		usage   bool
	)
	// partial is what a call that failed returns with its error.
	partial := func(err error) (jobs.Progress, error) {
		if !usage {
			p.Tokens = req.CutOffTokens(text.String())
		}
		p.GeneratedText = text.String()
		return p, err
	}
	stream := out.GetStream()
	defer stream.Close()

	events := stream.Events()
read:
	for {
		select {
		case <-ctx.Done():
			// The SDK would notice too, once the body read fails; don't wait.
			return partial(ctx.Err())
		case ev, ok := <-events:
			if !ok {
				break read
			}
			switch v := ev.(type) {
			case *types.ConverseStreamOutputMemberContentBlockDelta:
				// Reasoning and tool-use deltas are not part of the answer.
				if t, ok := v.Value.Delta.(*types.ContentBlockDeltaMemberText); ok && t.Value != "" {
					text.WriteString(t.Value)
					onDelta(t.Value)
				}
			case *types.ConverseStreamOutputMemberMessageStop:
				p.StopReason = string(v.Value.StopReason)
				stopped = true
			case *types.ConverseStreamOutputMemberMetadata:
				p.Tokens, usage = tokens(v.Value.Usage), v.Value.Usage != nil
			}
		}
	}
	if err := stream.Err(); err != nil {
		return partial(translate(ctx, err))
	}
	if err := ctx.Err(); err != nil {
		return partial(err)
	}
	if !stopped {
		// Without messageStop the text may be cut short: never pass it off
		// as complete.
		return partial(&jobs.Error{Kind: jobs.KindUnavailable,
			Message: "The model's response ended before it was complete.",
			Err:     errors.New("bedrock: stream closed without a messageStop event")})
	}
	p.GeneratedText = text.String()
	return p, nil
}

func (m *Model) converse(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	messages, system, inference := input(req)
	out, err := m.client.Converse(ctx, &bedrockruntime.ConverseInput{
		ModelId:         aws.String(req.Model),
		Messages:        messages,
		System:          system,
		InferenceConfig: inference,
	})
	if err != nil {
		return jobs.Progress{}, translate(ctx, err)
	}
	var text strings.Builder
	if msg, ok := out.Output.(*types.ConverseOutputMemberMessage); ok {
		for _, c := range msg.Value.Content {
			if t, ok := c.(*types.ContentBlockMemberText); ok {
				text.WriteString(t.Value)
			}
		}
	}
	if text.Len() > 0 {
		onDelta(text.String())
	}
	return jobs.Progress{
		GeneratedText: text.String(),
		Tokens:        tokens(out.Usage),
		StopReason:    string(out.StopReason),
	}, nil
}

// input is the Converse request for req: one user turn with the prompt,
// then, when req continues earlier text, an assistant turn with it (see the
// package comment); the system prompt, with a cache point when it is long
// enough for the model's prompt cache.
func input(req jobs.Request) ([]types.Message, []types.SystemContentBlock, *types.InferenceConfiguration) {
	messages := []types.Message{{
		Role:    types.ConversationRoleUser,
		Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: req.Prompt}},
	}}
	if prefill := jobs.Prefill(req.Continue); prefill != "" {
		messages = append(messages, types.Message{
			Role:    types.ConversationRoleAssistant,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: prefill}},
		})
	}
	var system []types.SystemContentBlock
	if req.System != "" {
		system = []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: req.System}}
		if m, ok := catalogue.Lookup(req.Model); ok && m.CacheMinTokens > 0 && estimateTokens(req.System) >= m.CacheMinTokens {
			system = append(system, &types.SystemContentBlockMemberCachePoint{
				Value: types.CachePointBlock{Type: types.CachePointTypeDefault}})
		}
	}
	inference := &types.InferenceConfiguration{}
	if req.MaxTokens > 0 {
		inference.MaxTokens = aws.Int32(int32(min(req.MaxTokens, 1<<31-1)))
	}
	if req.Temperature != nil {
		inference.Temperature = aws.Float32(float32(*req.Temperature))
	}
	return messages, system, inference
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
		if m := jobs.ScrubProviderMessage(validation.ErrorMessage()); m != "" {
			return jobs.KindInvalid, "The model rejected the request: " + m
		}
		return jobs.KindInvalid, "The model rejected the request as invalid."
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
