package jobs

import (
	"fmt"
	"math"
	"time"

	"github.com/promptq/promptq/internal/catalogue"
)

// InputTokensBound is a safe upper bound on the input tokens a request can
// be billed for, whatever its script: the UTF-8 bytes of its system prompt
// and of its conversation's turns (Conversation: the prompt and, on a
// worker's continuing call, the answer it continues and, for a model that
// takes no prefill, the user turn asking it to go on; a submission
// continues nothing), plus InputFramingTokens.
//
// Why bytes bound tokens: Claude's tokenizer is a byte-level BPE (with
// byte fallback), so every token stands for at least one byte of the text
// and a text of n bytes is at most n tokens. Characters are no bound: a
// CJK character is 3 bytes and often 1-2 tokens, an emoji 4 bytes and up
// to 4 tokens, so the old characters/4 guess undercounted them 4-8x.
// Bedrock's input_tokens also counts the message's framing (role markers,
// the system prompt's wrapper), a few tokens that InputFramingTokens
// covers with room to spare.
//
// The bound is the model's: its catalogue entry's TokensPerByte (1 for
// every model promptq knows, the Claude 4.7-and-later tokenizer
// included, which counts about 30% more tokens than Haiku 4.5's for the
// same text but still makes a token of at least one byte).
func (r Request) InputTokensBound() int {
	n := len(r.System)
	for _, t := range r.Conversation() {
		n += len(t.Text)
	}
	if m, ok := catalogue.Lookup(r.Model); ok && m.TokensPerByte > 1 {
		n = int(math.Ceil(float64(n) * m.TokensPerByte))
	}
	return n + InputFramingTokens
}

// InputFramingTokens bounds the tokens Bedrock adds to a request's input
// count for the message's structure.
const InputFramingTokens = 32

// WorstCaseTokens is what one attempt of the request can count against a
// daily budget at most: InputTokensBound plus max_tokens, times the
// model's long-context factor when the input bound passes its band (a
// request Claude Haiku 5.5 may bill at 5x: BudgetTokens). It is what a
// submission reserves of its owner's daily budget.
func (r Request) WorstCaseTokens() int {
	in := r.InputTokensBound()
	return (in + r.MaxTokens) * budgetFactor(r.Model, in)
}

// budgetFactor is what each token of a call of model whose prompt is
// promptTokens counts against a budget (catalogue.Model.BudgetFactor; 1
// for a model the catalogue does not know).
func budgetFactor(model string, promptTokens int) int {
	if m, ok := catalogue.Lookup(model); ok {
		return m.BudgetFactor(promptTokens)
	}
	return 1
}

// BudgetTokens is what the tokens t of one call of the job's model count
// against its owner's daily budget, and the key its usage counts them
// under: each count times the model's long-context factor when the call's
// prompt (input, cache reads and writes) passed the model's band, whose
// every token costs that much more (their Total is what the budget
// counts). Budgets count tokens at the model's base price, so a budget
// bounds money whatever the band, and the job's charge, so counted, costs
// its tokens at the base prices (ChargeCost).
func (j Job) BudgetTokens(t Tokens) (Tokens, UsageKey) {
	f := budgetFactor(j.Model, t.Prompt())
	return t.Times(f), UsageKey{Model: j.Model, Batch: j.Lane == LaneEconomy, Long: f > 1}
}

// ChargeCost is what j was charged (Budget.ChargedTokens) at its model's
// list prices (the batch price for an economy job), in dollars; false
// when the catalogue has no prices for its model. Its charge counts a
// long-context call's tokens at the band's factor already, so they are
// priced at the base prices: the same as GET /usage prices the day's
// tokens (UsageKey.Prices), so a day's jobs cost what the day does.
func (j Job) ChargeCost() (float64, bool) {
	p, ok := UsageKey{Model: j.Model, Batch: j.Lane == LaneEconomy}.Prices()
	if !ok {
		return 0, false
	}
	t := j.Budget.ChargedTokens
	return p.Cost(t.Input, t.Output, t.CacheRead, t.CacheWrite), true
}

// ChargeAfterCancel is how long after a running job was cancelled the
// charge of the attempt its worker was running may still land: the worker
// learns of the cancel at its next write of the job (at the latest its
// heartbeat, a third of its lease: 20 s by default) and charges what the
// call billed as soon as the call stops.
const ChargeAfterCancel = time.Minute

// ChargeMayGrow reports whether what j is charged may still grow though
// it has ended: an economy job cancelled inside its run (ChargePending,
// until the run ends), or a job cancelled while a worker ran it whose
// attempt is not charged yet, for ChargeAfterCancel after the cancel. A
// client showing what a job cost looks again meanwhile.
func (j Job) ChargeMayGrow(now time.Time) bool {
	if j.ChargePending() {
		return true
	}
	return j.Status == StatusCancelled && j.Lane != LaneEconomy && j.Attempts > 0 && !j.StartedAt.IsZero() &&
		j.Budget.Counted() && j.Budget.ChargedAttempt < j.Attempts && now.Sub(j.FinishedAt) < ChargeAfterCancel
}

// CutOffTokens is a safe upper bound on what a call of r that wrote
// outputBytes bytes and was cut off before the model reported its usage
// (a deadline, an error in the middle of the stream, a cancel) can be
// billed for: its InputTokensBound as input, and the bytes as output,
// never more than r's max_tokens (the model writes no more than that).
// The output counts all the model wrote, its answer's text and the
// reasoning it streamed (thinking is billed as output and counts against
// max_tokens). Bytes, for the reason InputTokensBound gives: a guess at
// characters a token would charge a CJK or emoji answer 4-8 times too
// little.
func (r Request) CutOffTokens(outputBytes int) Tokens {
	out := outputBytes
	if r.MaxTokens > 0 {
		out = min(out, r.MaxTokens)
	}
	return Tokens{Input: r.InputTokensBound(), Output: out}
}

// Budget is what a job holds of its owner's daily token budget (and of the
// stack's) and of the cap on active jobs. The stores keep it on the job and
// move it together with the counters, in one conditional write, so each
// reservation, charge and release happens exactly once.
type Budget struct {
	// Day is the UTC day ("2006-01-02", BudgetDay) whose counters the job
	// was reserved against; every later charge and the release go to that
	// day. "" means the job was never counted (submitted without budgets).
	Day string
	// Reserved is the worst case reserved at submit (WorstCaseTokens).
	Reserved int
	// Charged is what the model billed for the job so far, over all its
	// attempts, as the budget counts it; ChargedTokens is the same by
	// kind (each call's counts times its long-context factor: their Total
	// is Charged, for jobs charged since it was kept); ChargedAttempt is
	// the last attempt charged.
	Charged        int
	ChargedTokens  Tokens
	ChargedAttempt int
	// Settled is true once the job ended and its reservation was released
	// and its active-jobs count given back.
	Settled bool
	// Stack is true when the job is counted on the stack-wide counter too.
	Stack bool
}

// Counted reports whether the job is in its owner's counters.
func (b Budget) Counted() bool { return b.Day != "" }

// Held is what the job adds to its day's committed tokens: its reservation
// while it is not settled (never less than what it was charged), and what
// it was charged once it is.
func (b Budget) Held() int {
	if b.Settled {
		return b.Charged
	}
	return max(b.Reserved, b.Charged)
}

// Charge is b after charging attempt the tokens t (as the budget counts
// them: Job.BudgetTokens), and how much the day's committed tokens move
// (never negative: a charge within the reservation moves nothing, the
// tokens beyond it add).
func (b Budget) Charge(attempt int, t Tokens) (Budget, int) {
	nb := b
	nb.Charged += t.Total()
	nb.ChargedTokens = nb.ChargedTokens.Plus(t)
	nb.ChargedAttempt = attempt
	return nb, nb.Held() - b.Held()
}

// Settle is b after the job ended, and how much the day's committed tokens
// move: minus what is left of the reservation.
func (b Budget) Settle() (Budget, int) {
	nb := b
	nb.Settled = true
	return nb, nb.Held() - b.Held()
}

// Reopen is b after an ended job was queued again (an operator's replay
// from the dead-letter queue): its reservation is held again.
func (b Budget) Reopen() (Budget, int) {
	nb := b
	nb.Settled = false
	return nb, nb.Held() - b.Held()
}

// BudgetDay is the UTC day of t that budgets count against.
func BudgetDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Budgets are the token and job limits a submission must fit. Zero turns
// one off (the counters still move, for GET /usage).
type Budgets struct {
	// TokensPerDay caps the tokens each user commits in a UTC day:
	// reservations of jobs not yet ended plus what ended jobs were charged.
	TokensPerDay int
	// ActiveJobs caps each user's jobs that are queued or running.
	ActiveJobs int
	// StackTokensPerDay caps the tokens all users together commit in a UTC
	// day (the operator's budget for the whole stack).
	StackTokensPerDay int
}

// Reservation is what a submission reserved: tokens and jobs on Day, and
// whether on the stack-wide counter too.
type Reservation struct {
	Day    string
	Tokens int
	Jobs   int
	Stack  bool
}

// Usage is a user's day as the counters hold it (GET /usage).
type Usage struct {
	Day string
	// Committed is Reserved plus Charged: what the budget is checked
	// against. Charged is what the model billed (every attempt and
	// continuation of the day's jobs); Reserved is what is still held for
	// jobs not yet ended beyond what they were charged.
	Committed int
	Charged   int
	// ByModel is the charged tokens by model.
	ByModel map[string]Tokens
	// Active is the user's jobs queued or running.
	Active int
}

// Reserved is what is held for jobs that have not ended, beyond what they
// were charged.
func (u Usage) Reserved() int { return max(0, u.Committed-u.Charged) }

// The limits a submission can be refused for, as the error's Field names
// them.
const (
	LimitTokensPerDay      = "tokens_per_day"
	LimitActiveJobs        = "active_jobs"
	LimitStackTokensPerDay = "stack_tokens_per_day"
)

// Refusal is the error that refuses a submission for limit (one of the
// Limit constants) at now: KindRateLimited with the field named and the
// wait until the limit resets. The stack's budget is refused the same way,
// with its own field: the client can do nothing but wait, as with its own
// budget.
func (b Budgets) Refusal(limit string, now time.Time) *Error {
	next := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	wait := max(1, int(next.Sub(now).Seconds()+0.999))
	switch limit {
	case LimitActiveJobs:
		return &Error{Kind: KindRateLimited, Field: limit, RetryAfterSeconds: 10,
			Message: fmt.Sprintf("At most %d of your jobs may be queued or running at once; wait for some to finish.", b.ActiveJobs)}
	case LimitStackTokensPerDay:
		return &Error{Kind: KindRateLimited, Field: limit, RetryAfterSeconds: wait,
			Message: "The service's daily token budget is spent; new jobs are accepted again at 00:00 UTC."}
	default:
		return &Error{Kind: KindRateLimited, Field: LimitTokensPerDay, RetryAfterSeconds: wait,
			Message: fmt.Sprintf("This would pass your daily budget of %d tokens (a job holds its prompt's bytes plus max_tokens until it ends, then what the model used); it resets at 00:00 UTC.", b.TokensPerDay)}
	}
}

// RefuseAlone refuses a cost that no state of the counters could admit:
// more than a limit by itself.
func (b Budgets) RefuseAlone(cost Cost, now time.Time) error {
	switch {
	case b.TokensPerDay > 0 && cost.Tokens > b.TokensPerDay:
		return b.Refusal(LimitTokensPerDay, now)
	case b.ActiveJobs > 0 && cost.Jobs > b.ActiveJobs:
		return b.Refusal(LimitActiveJobs, now)
	case b.StackTokensPerDay > 0 && cost.Tokens > b.StackTokensPerDay:
		return b.Refusal(LimitStackTokensPerDay, now)
	}
	return nil
}
