package jobs

import (
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
