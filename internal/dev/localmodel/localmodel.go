// Package localmodel is a stand-in for a language model, for development
// and tests. It is not a real model and says so: every answer starts with
// [Banner], and it reports itself as [ID].
//
// It stands in for every model of the catalogue (internal/catalogue): make
// dev serves every allowed model id with it, and it answers a request the
// way the request's model does on Bedrock (its catalogue entry), as if the
// request were sent as it is: see "The model's rules". [ID] itself takes a
// temperature and a prefill, and does not think.
//
// # Output
//
// The text is deterministic: the same request (model, system prompt, prompt)
// gives the same words every time. It is the banner, a sentence naming the
// model it stands in for and the prompt's length, then pseudo-random words
// from a fixed vocabulary (seeded by a hash of the request), 40 to 160 words
// in all. Requests may name ID as their model (the dev stack allows it).
//
// # Tokens
//
// Tokens are counted as whitespace-separated words (strings.Fields), not
// with any real tokenizer: input tokens are the words of the system prompt
// and of the conversation's turns (jobs.Request.Conversation: the prompt,
// the answer continued and, on a user-turn continuation, the turn asking
// to go on), output tokens the words streamed and the thinking tokens
// spent. MaxTokens is honoured in those units: the answer stops after
// MaxTokens of them with stop reason "max_tokens", otherwise it ends with
// "end_turn". A call that fails returns, with its error, the text and
// tokens it had streamed.
//
// # Continuing
//
// A request whose Continue holds the start of the answer gets the rest of
// it, the way its model continues (ContinueBy):
//
//   - a prefilled assistant turn (Prefill): the model skips as many words
//     of its answer as Continue holds and streams the others, each with
//     the whitespace before it; no word is written twice.
//   - a user turn asking to go on (UserTurn): the model goes on exactly
//     where the text stopped, as jobs.ContinueTurn asks; no word is
//     written twice. With promptq-fault:repeat it starts again
//     [RepeatWords] words before, as a real model so asked may, and the
//     worker drops the words it repeats (jobs.Join); those words are
//     output, paid for as Bedrock would bill them. A repetition shorter
//     than jobs.MinOverlap bytes, which the worker would take for the
//     answer's own next words, is not made.
//
// MaxTokens bounds each call's output, as it bounds a Bedrock call's.
//
// # The model's rules
//
// A request is checked against its model's catalogue entry first, and
// refused as Bedrock refuses it, with Bedrock's message, as the
// *jobs.Error internal/bedrock makes of a ValidationException
// (jobs.Rejected, KindInvalid, never retried; the message is also in the
// chain as a [*ValidationError]):
//
//   - a temperature for a model that takes none (the Claude 5.5 models:
//     catalogue.SamplingRejection);
//   - a conversation ending on an assistant turn (a prefill) for a model
//     that takes none (catalogue.PrefillRejection).
//
// A model that thinks at the request's effort (jobs.Request.Params, the
// rule internal/bedrock sends: catalogue.Model.ThinksAt) spends
// [ThinkingTokens] of its output on thinking before its first word, at
// the streaming pace and without streaming anything, as a real model's
// reasoning is billed as output and counts against max_tokens.
//
// # Pace
//
// Words stream one per delta at Options.TokensPerSecond after
// Options.Latency, like a hosted model; tests set a fast pace. Generate
// returns ctx's error as soon as ctx is done.
//
// # Faults
//
// A prompt or system prompt containing "promptq-fault:NAME" makes the model
// misbehave, so development and tests can exercise the worker's error
// handling end to end:
//
//	promptq-fault:throttle       every call fails with a retryable rate-limit error
//	promptq-fault:throttle-once  the first call for this request fails that way, later ones succeed
//	promptq-fault:invalid        every call fails with a permanent invalid-request error
//	promptq-fault:midstream      half the words still to write stream, then a retryable error
//	promptq-fault:hang           the banner streams (when not written yet), then nothing until ctx is done
//	promptq-fault:refuse         half the words still to write stream, then the model declines
//	                             (jobs.Refused, as a Claude 5.5 model's safety classifiers do);
//	                             the call's tokens come back with it, to be billed
//	promptq-fault:repeat         a user-turn continuation starts RepeatWords words back (see Continuing)
//	promptq-fault:invalid-json   a JSON answer (see JSON) that conforms to no schema
//
// An unknown NAME is a permanent invalid-request error listing the known
// ones. "once" is counted per Model value, so per process.
//
// # Quota
//
// Options.MaxConcurrent and Options.TokensPerMinute give the model a quota,
// as an account has on Bedrock. A call beyond either is refused at once
// with the error Bedrock's throttling becomes (a *jobs.Error of
// KindRateLimited). Tokens are counted the way Bedrock's quota counts
// them: a call reserves its input plus its MaxTokens when it starts, which
// becomes its input plus its output when it ends, and every call started in
// the last 60 seconds counts (a sliding minute). Zero means no limit.
// [Model.Stats] says how many calls were made and refused, and how many
// tokens were used, for measurements.
//
// # JSON
//
// A request with a response format (jobs.Request.ResponseFormat) is
// answered with a JSON value that conforms to its schema, chosen from the
// request's hash as the filler is (see jsonAnswer for the keywords it
// follows), and nothing else: no banner, as a model writing to a schema
// can write nothing outside it. It streams in whitespace-separated words
// and is continued as any answer is (a continuing call is sent no schema,
// jobs.Params.TextFormat, and goes on with the same value). With
// promptq-fault:invalid-json the value is cut before its last
// character, so it is not JSON (an object, an array or a string left
// open) and conforms to no schema. A text format sent to a model
// whose catalogue entry has no StructuredOutput is refused as Bedrock
// refuses it.
//
// # Echo
//
// A prompt containing "promptq-echo" on a line of its own gets, after the
// banner and a blank line, the rest of the prompt after that line, verbatim
// (line breaks and all), instead of filler: so tests can have the model
// write exactly the text they need, such as Markdown or markup that must
// be shown inert. It streams in whitespace-separated pieces, each with the
// whitespace before it, and counts one output token a piece.
package localmodel

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/jobs"
)

// ID is the name the local model goes by in logs and answers.
const ID = catalogue.LocalID

// Banner starts every answer, so no one takes the text for a real model's.
const Banner = "[promptq local model — not a real LLM]"

// DefaultTokensPerSecond is the pace when Options leaves it zero: about
// what a small hosted model streams.
const DefaultTokensPerSecond = 40

// Stop reasons, spelled as Bedrock spells them.
const (
	StopEndTurn   = "end_turn"
	StopMaxTokens = "max_tokens"
)

// RepeatWords is how many words before where the text stopped a user-turn
// continuation starts again (see the package comment).
const RepeatWords = 6

// ThinkingTokens are the output tokens a model that thinks at effort spends
// on it before its first word: 8 at low, doubling with each level up to
// 128 at max (8 for an effort it does not know).
func ThinkingTokens(effort string) int {
	return 8 << max(slices.Index(catalogue.Efforts5, effort), 0)
}

// ValidationError is Bedrock's message for a request its model rejects
// (a ValidationException's), the cause in the chain of the local model's
// jobs.Rejected errors as the SDK's exception is in internal/bedrock's. The
// batch stand-in (internal/dev/localbatch) writes it as a record's error.
type ValidationError struct{ Message string }

func (e *ValidationError) Error() string { return e.Message }

// rejected is the error internal/bedrock makes of Bedrock's
// ValidationException with message msg.
func rejected(msg string) error { return jobs.Rejected(msg, &ValidationError{Message: msg}) }

// check refuses req as its model on Bedrock would (see the package
// comment): nil when the model takes it.
func check(req jobs.Request) error {
	m, ok := catalogue.Lookup(req.Model)
	if !ok {
		return nil
	}
	if !m.Temperature && req.Temperature != nil {
		return rejected(catalogue.SamplingRejection("temperature"))
	}
	turns := req.Conversation()
	if m.Continuation == catalogue.UserTurn && turns[len(turns)-1].Role == jobs.RoleAssistant {
		return rejected(catalogue.PrefillRejection)
	}
	if req.Params().TextFormat != nil && !m.StructuredOutput {
		return rejected("This model does not support outputConfig.textFormat.")
	}
	return nil
}

// Options configure a Model.
type Options struct {
	// TokensPerSecond is the streaming pace; zero or less means
	// DefaultTokensPerSecond.
	TokensPerSecond float64
	// Latency is the wait before the first word, taken as given (zero: none).
	Latency time.Duration
	// MaxConcurrent and TokensPerMinute are the model's quota (see the
	// package comment); zero means no limit.
	MaxConcurrent   int
	TokensPerMinute int
	// Now is the clock of the tokens-per-minute window. Default time.Now.
	Now func() time.Time
}

// Model is the local model. It is safe for concurrent use.
type Model struct {
	perToken time.Duration
	latency  time.Duration
	maxConc  int
	tpm      int
	now      func() time.Time

	mu      sync.Mutex
	seen    map[[32]byte]bool // requests that already had their throttle-once fault
	running int
	window  []*use // calls started in the last minute, oldest first
	stats   Stats
}

// use is one call's tokens in the quota's window.
type use struct {
	at     time.Time
	tokens int
}

// Stats counts what the model did.
type Stats struct {
	Calls     int // calls that got past the quota and ran
	Throttled int // calls refused for the quota
	// Tokens is input plus output of the calls that ended (Bedrock's
	// count); MaxRunning the most calls that ran at once.
	Tokens     int
	MaxRunning int
}

// New returns a local model.
func New(opts Options) *Model {
	tps := opts.TokensPerSecond
	if tps <= 0 {
		tps = DefaultTokensPerSecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Model{
		perToken: time.Duration(float64(time.Second) / tps),
		latency:  opts.Latency,
		maxConc:  opts.MaxConcurrent,
		tpm:      opts.TokensPerMinute,
		now:      opts.Now,
		seen:     make(map[[32]byte]bool),
	}
}

// Stats returns what the model has done so far.
func (m *Model) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// Errors of the quota, worded as Bedrock's throttling is.
var (
	errTooManyCalls = &jobs.Error{Kind: jobs.KindRateLimited,
		Message: "The local model is receiving too many requests right now (PROMPTQ_LOCAL_MAX_CONCURRENT)."}
	errTooManyTokens = &jobs.Error{Kind: jobs.KindRateLimited,
		Message: "The local model's tokens-per-minute quota is used up for now (PROMPTQ_LOCAL_TOKENS_PER_MINUTE)."}
)

// admit counts a call of reserve tokens against the quota, or refuses it.
// The returned use is the call's entry in the window (nil without a
// tokens-per-minute limit).
func (m *Model) admit(reserve int) (*use, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.maxConc > 0 && m.running >= m.maxConc {
		m.stats.Throttled++
		return nil, errTooManyCalls
	}
	var u *use
	if m.tpm > 0 {
		cutoff := now.Add(-time.Minute)
		drop := 0
		for drop < len(m.window) && !m.window[drop].at.After(cutoff) {
			drop++
		}
		m.window = m.window[drop:]
		inWindow := 0
		for _, w := range m.window {
			inWindow += w.tokens
		}
		if inWindow+reserve > m.tpm {
			m.stats.Throttled++
			return nil, errTooManyTokens
		}
		u = &use{at: now, tokens: reserve}
		m.window = append(m.window, u)
	}
	m.running++
	m.stats.Calls++
	m.stats.MaxRunning = max(m.stats.MaxRunning, m.running)
	return u, nil
}

// done ends a call admitted with u, which used tokens (input plus output).
func (m *Model) done(u *use, tokens int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running--
	m.stats.Tokens += tokens
	if u != nil {
		u.tokens = tokens
	}
}

var faultPattern = regexp.MustCompile(`promptq-fault:([a-z][a-z-]*)`)

// echoPattern finds the echo line; what follows it is the answer.
var echoPattern = regexp.MustCompile(`(?m)^[ \t]*promptq-echo[ \t]*\r?\n`)

// piecePattern splits text into words, each with the whitespace before it.
var piecePattern = regexp.MustCompile(`\s*\S+`)

// Errors the faults produce. Their messages say they are simulated.
var (
	errThrottled = &jobs.Error{Kind: jobs.KindRateLimited,
		Message: "The local model is simulating throttling (promptq-fault:throttle)."}
	errInvalid = &jobs.Error{Kind: jobs.KindInvalid,
		Message: "The local model is simulating a rejected request (promptq-fault:invalid)."}
	errMidstream = &jobs.Error{Kind: jobs.KindUnavailable,
		Message: "The local model is simulating a stream that broke off (promptq-fault:midstream)."}
	errRefused = jobs.Refused("the local model is simulating a refusal (promptq-fault:refuse).")
)

// Generate streams a deterministic answer to req; see the package comment.
func (m *Model) Generate(ctx context.Context, req jobs.Request, onDelta func(text string)) (jobs.Progress, error) {
	if err := ctx.Err(); err != nil {
		return jobs.Progress{}, err
	}
	if err := check(req); err != nil {
		return jobs.Progress{}, err
	}
	key := sha256.Sum256([]byte(req.Model + "\x00" + req.System + "\x00" + req.Prompt))
	fault := ""
	if f := faultPattern.FindStringSubmatch(req.System + "\n" + req.Prompt); f != nil {
		fault = f[1]
	}
	switch fault {
	case "", "midstream", "hang", "refuse", "repeat", "invalid-json":
	case "throttle":
		return jobs.Progress{}, errThrottled
	case "throttle-once":
		m.mu.Lock()
		first := !m.seen[key]
		m.seen[key] = true
		m.mu.Unlock()
		if first {
			return jobs.Progress{}, errThrottled
		}
	case "invalid":
		return jobs.Progress{}, errInvalid
	default:
		return jobs.Progress{}, jobs.Invalid("prompt", "Unknown local model fault %q; known: throttle, throttle-once, invalid, midstream, hang, refuse, repeat, invalid-json.", fault)
	}

	input := len(strings.Fields(req.System))
	for _, t := range req.Conversation() {
		input += len(strings.Fields(t.Text))
	}
	u, err := m.admit(input + max(req.MaxTokens, 0))
	if err != nil {
		return jobs.Progress{}, err
	}
	var text strings.Builder
	output := 0
	defer func() { m.done(u, input+output) }()
	// partial is what a call that fails returns with its error.
	partial := func(err error) (jobs.Progress, error) {
		return jobs.Progress{GeneratedText: text.String(), Tokens: jobs.Tokens{Input: input, Output: output}}, err
	}

	words := answer(key, req)
	if fault == "invalid-json" && req.ResponseFormat != nil && len(words) > 0 {
		// Cut before its last character: an object, array or string not
		// closed is no JSON.
		last := words[len(words)-1]
		words[len(words)-1] = last[:len(last)-1]
	}
	from := resume(words, req, fault == "repeat")
	budget := req.MaxTokens
	if budget <= 0 {
		budget = math.MaxInt
	}
	thinking := 0
	if p := req.Params(); p.Thinks {
		thinking = min(ThinkingTokens(p.Effort), budget)
		budget -= thinking
	}
	end, stop := len(words), StopEndTurn
	if end-from > budget {
		end, stop = from+budget, StopMaxTokens
	}
	if err := sleep(ctx, m.latency); err != nil {
		return partial(err)
	}
	for range thinking {
		// Thought, billed as output, never streamed.
		if err := sleep(ctx, m.perToken); err != nil {
			return partial(err)
		}
		output++
	}
	bannerWords := len(strings.Fields(Banner))
	skip := len(strings.Fields(req.Continue))
	for i := from; i < end; i++ {
		switch {
		case fault == "midstream" && i == from+(end-from)/2:
			return partial(errMidstream)
		case fault == "refuse" && i == from+(end-from)/2:
			p, err := partial(errRefused)
			p.StopReason = jobs.StopRefusal
			return p, err
		case fault == "hang" && i == max(skip, bannerWords):
			<-ctx.Done()
			return partial(ctx.Err())
		}
		if err := sleep(ctx, m.perToken); err != nil {
			return partial(err)
		}
		w := written(words, i)
		text.WriteString(w)
		onDelta(w)
		output++
	}
	return jobs.Progress{
		GeneratedText: text.String(),
		Tokens:        jobs.Tokens{Input: input, Output: output},
		StopReason:    stop,
	}, nil
}

// resume is the index of the word a call of req starts at: after the words
// its Continue holds, or, continuing from a user turn with repeat,
// RepeatWords before them when they make a repetition the worker
// recognizes (jobs.MinOverlap bytes or more).
func resume(words []string, req jobs.Request, repeat bool) int {
	skip := min(len(strings.Fields(req.Continue)), len(words))
	if skip == 0 || req.ContinueBy != catalogue.UserTurn || !repeat {
		return skip
	}
	from := max(skip-RepeatWords, 0)
	repeated := 0
	for i := from; i < skip; i++ {
		repeated += len(written(words, i))
	}
	if repeated < jobs.MinOverlap {
		return skip
	}
	return from
}

// written is word i of an answer as it is streamed: with the whitespace
// before it (filler words get a space; echoed pieces carry their own).
func written(words []string, i int) string {
	w := words[i]
	if i > 0 && !strings.ContainsAny(w[:1], " \t\r\n\f") {
		w = " " + w
	}
	return w
}

// answer is the whole answer's words, before MaxTokens.
func answer(key [32]byte, req jobs.Request) []string {
	rng := rand.New(rand.NewPCG(binary.BigEndian.Uint64(key[:8]), binary.BigEndian.Uint64(key[8:16])))
	if f := req.ResponseFormat; f != nil {
		return piecePattern.FindAllString(jsonAnswer(f.Schema, rng), -1)
	}
	if loc := echoPattern.FindStringIndex(req.Prompt); loc != nil {
		words := strings.Fields(Banner)
		for i, p := range piecePattern.FindAllString(req.Prompt[loc[1]:], -1) {
			if i == 0 {
				p = "\n\n" + strings.TrimLeft(p, " \t\r\n")
			}
			words = append(words, p)
		}
		return words
	}
	intro := fmt.Sprintf("%s is standing in for %s.", ID, req.Model)
	if req.Model == "" || req.Model == ID {
		intro = fmt.Sprintf("This is %s, a stand-in for a language model.", ID)
	}
	words := strings.Fields(Banner)
	words = append(words, strings.Fields(fmt.Sprintf(
		"%s Your prompt had %d words. Here is some filler text:",
		intro, len(strings.Fields(req.Prompt))))...)
	total := 40 + rng.IntN(121)
	sentence := 0
	for len(words) < total {
		w := vocabulary[rng.IntN(len(vocabulary))]
		if sentence == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		sentence++
		if sentence >= 6 && rng.IntN(4) == 0 || len(words) == total-1 {
			w += "."
			sentence = 0
		}
		words = append(words, w)
	}
	return words
}

var vocabulary = strings.Fields(`queue worker lease token model stream batch prompt
	answer job retry backoff table region lambda message visibility deadline
	progress claim fence attempt status cancel result latency shard
	partition cache write read signal timeout budget quota limit window`)

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
