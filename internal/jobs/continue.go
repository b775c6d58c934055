package jobs

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/promptq/promptq/internal/catalogue"
)

// ContinueTurn is the user turn that asks a model taking no prefill
// (catalogue.UserTurn) to go on with an answer an earlier call stopped: it
// follows the prompt and the answer so far, given as the model's own
// earlier turn.
const ContinueTurn = "Your answer above was cut off before its end. Continue it exactly where it stops, " +
	"even in the middle of a word or sentence: write only the text that comes next, starting with the very next " +
	"characters (with a leading space or line break if one is due). Do not repeat any of it, and do not add any " +
	"words of your own about continuing."

// MinOverlap is the shortest repetition of the text so far, at the start
// of a user-turn continuation, that Join takes for one and drops: shorter
// ones (a word or two) are as likely to be the answer's own next words.
// MaxOverlap is the longest it looks for.
const (
	MinOverlap = 20
	MaxOverlap = 2048
)

// Join is the answer after a call that continued before (by, its model's
// way) wrote added. It always begins with before, so an answer only grows:
//
//   - Whitespace that ends before and starts added is written once (a
//     prefilled turn is given without its trailing whitespace, and the
//     model may write it again).
//   - A model continuing from a user turn may start again a few words
//     back: the longest end of before, MinOverlap to MaxOverlap bytes,
//     that added starts with is dropped from added. Until the call has
//     ended (final), text that may still turn out to be such a repetition
//     (it is found in before's last MaxOverlap bytes) is held back, so
//     what a reader sees never has to shrink.
func Join(before, added string, by catalogue.Continuation, final bool) string {
	if before == "" {
		return added
	}
	if before[len(Prefill(before)):] != "" {
		// Any whitespace added starts with stands in for before's.
		added = strings.TrimLeftFunc(added, unicode.IsSpace)
	}
	if by != catalogue.UserTurn {
		return before + added
	}
	for k := min(len(before), len(added), MaxOverlap); k >= MinOverlap; k-- {
		if strings.HasSuffix(before, added[:k]) {
			return before + added[k:]
		}
	}
	tail := before[max(0, len(before)-MaxOverlap):]
	if !final && len(added) < MaxOverlap && strings.Contains(tail, added) {
		return before
	}
	return before + added
}

// ContinueRequest is the request of a new job that goes on with j's
// answer where it stopped at max_tokens (POST /generate's "continue"):
// j's prompt, system prompt, model, temperature and effort, and j's text
// to continue (Request.Continue), the way j's model continues an answer
// (a prefilled turn, or the answer as an earlier turn and a user turn
// asking to go on), as a worker continues an answer its deadline cut. It
// may write maxTokens more tokens (j's max_tokens when 0), on lane (j's
// when "", the interactive lane for an economy job, which continues on
// demand). The new job's text starts as j's, so it shows the whole answer
// as it grows, and j stays as it ended.
//
// Only a job that succeeded with stop reason max_tokens can be continued
// (a KindConflict error naming continue otherwise), on a model still
// allowed (l.Models).
func (j Job) ContinueRequest(maxTokens int, lane Lane, l Limits) (Request, error) {
	if j.Status != StatusSucceeded || j.StopReason != "max_tokens" {
		what := fmt.Sprintf("it is %s", j.Status)
		if j.Status == StatusSucceeded {
			what = "its answer is complete"
		}
		return Request{}, &Error{Kind: KindConflict, Field: "continue",
			Message: fmt.Sprintf("Only a job that stopped at max_tokens can be continued; %s.", what)}
	}
	if !slices.Contains(l.Models, j.Model) {
		return Request{}, Invalid("continue", "The job's model, %s, is no longer one this service runs, so its answer cannot be continued.", j.Model)
	}
	r := j.Request()
	r.ContinuesJob = j.ID
	r.Continue, r.ContinueBy = j.GeneratedText, j.ContinuesBy()
	if maxTokens > 0 {
		if m, ok := catalogue.Lookup(j.Model); ok && maxTokens > m.MaxOutputTokens {
			return Request{}, Invalid("max_tokens", "max_tokens must be an integer from 1 to %d, the most %s (%s) writes.",
				m.MaxOutputTokens, m.Name, j.Model)
		}
		r.MaxTokens = maxTokens
	}
	switch {
	case lane != "":
		r.Lane = lane
	case !r.Lane.OnDemand():
		r.Lane = LaneInteractive
	}
	return r, nil
}
