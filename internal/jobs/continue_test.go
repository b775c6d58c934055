package jobs_test

import (
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/jobs"
)

func TestJoin(t *testing.T) {
	before := "The quick brown fox jumps over the lazy dog. Then it ran into the wo"
	tests := []struct {
		name   string
		before string
		added  string
		by     catalogue.Continuation
		final  bool
		want   string
	}{
		{"nothing before", "", "Hello", catalogue.UserTurn, false, "Hello"},
		{"a prefilled word goes on", before, "ods.", catalogue.Prefill, true, before + "ods."},
		{"prefill: the trimmed space is written once", "Hello ", " world", catalogue.Prefill, true, "Hello world"},
		{"prefill never drops a repetition", "one two three four five six seven eight", "four five six seven eight nine", catalogue.Prefill, true,
			"one two three four five six seven eight" + "four five six seven eight nine"},
		{"user turn goes on mid-word", before, "ods, far away.", catalogue.UserTurn, true, before + "ods, far away."},
		{"user turn repeats the last sentence", before, "Then it ran into the woods, far away.", catalogue.UserTurn, true,
			before + "ods, far away."},
		{"user turn repeats a few words", before, "dog. Then it ran into the woods.", catalogue.UserTurn, true, before + "ods."},
		{"a repeat shorter than MinOverlap is kept", before, "ran into the woods.", catalogue.UserTurn, true, before + "ran into the woods."},
		{"a short repeat is the answer's own", "Step one: mix. Step", " two: bake.", catalogue.UserTurn, true, "Step one: mix. Step two: bake."},
		{"a possible repetition is held back while the call runs", before, "Then it ran into", catalogue.UserTurn, false, before},
		{"until it goes past the end", before, "Then it ran into the woods", catalogue.UserTurn, false, before + "ods"},
		{"new text is shown at once", before, "ods and", catalogue.UserTurn, false, before + "ods and"},
		{"at the end what was held back is written", "abc abc abc", "abc", catalogue.UserTurn, true, "abc abc abcabc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := jobs.Join(tt.before, tt.added, tt.by, tt.final)
			if got != tt.want {
				t.Errorf("Join(%q, %q) = %q, want %q", tt.before, tt.added, got, tt.want)
			}
			if !strings.HasPrefix(got, tt.before) {
				t.Errorf("the answer shrank: %q does not begin with %q", got, tt.before)
			}
		})
	}
}

// While a continuation streams in, the text shown only grows, whatever
// it repeats. A model streams whole characters (Bedrock's text deltas are
// UTF-8 strings), so the continuation grows a character at a time.
func FuzzJoinOnlyGrows(f *testing.F) {
	f.Add("The quick brown fox jumps over the lazy dog. Then it ran into the wo", "Then it ran into the woods, far away.")
	f.Add("abc ", " abcabc")
	f.Fuzz(func(t *testing.T, before, added string) {
		shown := before
		var cuts []int
		for i := range added {
			cuts = append(cuts, i)
		}
		for _, i := range append(cuts, len(added)) {
			next := jobs.Join(before, added[:i], catalogue.UserTurn, i == len(added))
			if !strings.HasPrefix(next, shown) {
				t.Fatalf("after %q of %q the text %q does not begin with what was shown, %q", added[:i], added, next, shown)
			}
			shown = next
		}
	})
}
