package catalogue

import (
	"slices"
	"strings"
	"testing"
)

func TestLookupResolvesProfilesToTheirFoundationModel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id     string
		want   string
		prefix string
		found  bool
	}{
		{DefaultModel, "anthropic.claude-haiku-5-5", "us", true},
		{"us.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0", "us", true},
		{"global.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0", "global", true},
		{"anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0", "", true},
		{"eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0", "eu", true},
		{"us.anthropic.claude-3-5-haiku-20241022-v1:0", "", "us", false}, // end of life 2026-06-19
		{LocalID, LocalID, "", true},
		{"us." + LocalID, "", "us", false}, // the stand-in has no profiles
		{"", "", "", false},
	} {
		m, ok := Lookup(tc.id)
		if ok != tc.found || m.ID != tc.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.id, m.ID, ok, tc.want, tc.found)
		}
		if _, p := SplitProfile(tc.id); p != tc.prefix {
			t.Errorf("SplitProfile(%q) prefix %q, want %q", tc.id, p, tc.prefix)
		}
	}
}

func TestEveryEntryIsComplete(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, m := range All() {
		switch {
		case seen[m.ID]:
			t.Errorf("%s is listed twice", m.ID)
		case m.Name == "" || m.Sources.ID.Ref == "":
			t.Errorf("%s lacks a name or a source", m.ID)
		case m.MaxOutputTokens < 1 || m.ContextWindow <= m.MaxOutputTokens:
			t.Errorf("%s: max output %d, context %d", m.ID, m.MaxOutputTokens, m.ContextWindow)
		case m.Continuation != Prefill && m.Continuation != UserTurn:
			t.Errorf("%s: continuation %q", m.ID, m.Continuation)
		case m.TokensPerByte < 1:
			t.Errorf("%s: %v tokens a byte bounds nothing", m.ID, m.TokensPerByte)
		case m.Thinking.DefaultEffort != "" && !m.TakesEffort(m.Thinking.DefaultEffort):
			t.Errorf("%s: default effort %q is not among %v", m.ID, m.Thinking.DefaultEffort, m.Thinking.Efforts)
		case m.Thinking.Off != "" && !m.TakesEffort(m.Thinking.OffMaxEffort):
			t.Errorf("%s: thinking turns off up to an effort it does not take", m.ID)
		case m.LongContextAbove > 0 && m.LongContextFactor <= 1:
			t.Errorf("%s: a long-context band that costs no more", m.ID)
		case !m.Local && (m.Prices.Input <= 0 || m.Prices.Output <= 0 || m.Prices.CacheRead <= 0 || m.Prices.CacheWrite <= 0):
			t.Errorf("%s: incomplete prices %+v", m.ID, m.Prices)
		case !m.Local && m.CacheMinTokens < 1:
			t.Errorf("%s: no caching minimum", m.ID)
		case strings.Contains(m.ID, "claude-3-5-haiku"), strings.Contains(m.ID, "claude-sonnet-4-20250514"):
			t.Errorf("%s reached its end of life on Bedrock", m.ID)
		}
		if !m.Local {
			for name, src := range map[string]Source{"limits": m.Sources.Limits, "sampling": m.Sources.Sampling,
				"continuation": m.Sources.Continuation, "thinking": m.Sources.Thinking, "structured output": m.Sources.StructuredOutput,
				"caching": m.Sources.Caching, "prices": m.Sources.Prices, "long context": m.Sources.LongContext,
				"batch": m.Sources.Batch, "tokenizer": m.Sources.Tokenizer, "lifecycle": m.Sources.Lifecycle} {
				if src.Ref == "" {
					t.Errorf("%s: no source for its %s", m.ID, name)
				}
			}
		}
		seen[m.ID] = true
	}
	if _, ok := Lookup(DefaultModel); !ok {
		t.Errorf("the default model %s is not in the catalogue", DefaultModel)
	}
}

// The default is the cheapest current model: no model the catalogue has
// costs less, and it is active.
func TestTheDefaultIsTheCheapestCurrentModel(t *testing.T) {
	def, _ := Lookup(DefaultModel)
	if def.Lifecycle.State != "active" {
		t.Errorf("the default model is %s", def.Lifecycle.State)
	}
	for _, m := range All() {
		if !m.Local && m.Prices.Cost(500, 500, 0, 0) < def.Prices.Cost(500, 500, 0, 0) {
			t.Errorf("%s costs less than the default %s", m.Name, def.Name)
		}
	}
}

// What each 5.5 model takes, as its card and migration guide say, and what
// promptq asks of it.
func TestTheClaude55Rules(t *testing.T) {
	haiku, _ := Lookup("us.anthropic.claude-haiku-5-5")
	sonnet, _ := Lookup("anthropic.claude-sonnet-5-5")
	opus, _ := Lookup("global.anthropic.claude-opus-5-5")
	old, _ := Lookup("anthropic.claude-haiku-4-5-20251001-v1:0")
	for _, m := range []Model{haiku, sonnet, opus} {
		if m.Temperature || m.Continuation != UserTurn || !m.TakesEffort(EffortMax) || m.TakesEffort("extreme") {
			t.Errorf("%s: temperature %v, continuation %s, efforts %v", m.Name, m.Temperature, m.Continuation, m.Thinking.Efforts)
		}
	}
	if !old.Temperature || old.Continuation != Prefill || old.TakesEffort(EffortLow) || old.EffortOr("") != "" || old.ThinksAt("") {
		t.Errorf("Haiku 4.5: %+v", old)
	}
	for _, tc := range []struct {
		m      Model
		effort string
		thinks bool
	}{
		{haiku, EffortMedium, false}, {haiku, EffortHigh, false}, {haiku, EffortXHigh, true}, {haiku, EffortMax, true},
		{sonnet, EffortLow, true}, {opus, EffortLow, true},
	} {
		if got := tc.m.ThinksAt(tc.effort); got != tc.thinks {
			t.Errorf("%s at %s thinks %v, want %v", tc.m.Name, tc.effort, got, tc.thinks)
		}
	}
	if haiku.EffortOr("") != DefaultEffort || haiku.EffortOr(EffortMax) != EffortMax {
		t.Errorf("Haiku 5.5's effort: %q by default", haiku.EffortOr(""))
	}
	p, long := haiku.PriceFor(100_000)
	if long || p != haiku.Prices || haiku.BudgetFactor(100_000) != 1 {
		t.Errorf("a 100,000-token prompt: %+v, long %v", p, long)
	}
	p, long = haiku.PriceFor(100_001)
	if !long || p.Input != 0.5 || p.Output != 2.5 || haiku.BudgetFactor(100_001) != 5 {
		t.Errorf("a 100,001-token prompt: %+v, long %v, budget factor %d", p, long, haiku.BudgetFactor(100_001))
	}
	if _, long := opus.PriceFor(900_000); long {
		t.Error("Opus 5.5 has no long-context band")
	}
	// About 30% more tokens for the same text than Haiku 4.5: 500 in and
	// 500 out of Haiku 4.5's tokens cost $0.39 per 1,000 jobs on Haiku 5.5.
	if f := haiku.Tokenizer(); f != 1.3 || old.Tokenizer() != 1 {
		t.Errorf("tokenizer factors %v and %v", f, old.Tokenizer())
	}
	if c := 1000 * haiku.Prices.Cost(650, 650, 0, 0); c < 0.389 || c > 0.391 {
		t.Errorf("1,000 jobs of 500 in and 500 out on Haiku 5.5: $%v, want $0.39", c)
	}
}

func TestEntriesKeepTheAllowListOrderAndIDs(t *testing.T) {
	t.Parallel()
	got := Entries([]string{LocalID, DefaultModel, "x.unknown"})
	if len(got) != 3 || got[0].ID != LocalID || got[1].ID != DefaultModel || got[1].Name != "Claude Haiku 5.5" ||
		got[1].MaxOutputTokens != 128_000 || got[1].Temperature || got[1].DefaultEffort != DefaultEffort || len(got[1].Efforts) != 5 ||
		got[1].InputPrice != 0.10 || got[1].OutputPrice != 0.50 || got[1].EndOfLife != "2027-10-07" ||
		!got[0].Local || !got[0].Temperature || got[2].Name != "x.unknown" || got[2].MaxOutputTokens != 0 {
		t.Errorf("Entries = %+v", got)
	}
	// Haiku 5.5 runs without thinking up to high; Opus 5.5 always thinks.
	if got := got[1].ThinkingEfforts; !slices.Equal(got, []string{EffortXHigh, EffortMax}) {
		t.Errorf("Haiku 5.5 thinks at %v, want xhigh and max", got)
	}
	if got := Entries([]string{"us.anthropic.claude-opus-5-5"})[0].ThinkingEfforts; !slices.Equal(got, Efforts5) {
		t.Errorf("Opus 5.5 thinks at %v, want every level", got)
	}
	if got := Entries([]string{LocalID})[0].ThinkingEfforts; got != nil {
		t.Errorf("the local model thinks at %v, want none", got)
	}
}

func TestBatchPricesAreTheDiscountOfOnDemand(t *testing.T) {
	p := Prices{Input: 1, Output: 5, CacheRead: 0.1, CacheWrite: 1.25}
	want := Prices{Input: 0.5, Output: 2.5, CacheRead: 0.05, CacheWrite: 0.625}
	if got := p.Batch(); got != want {
		t.Errorf("Batch() = %+v, want %+v", got, want)
	}
}

func TestEveryForeignModelMapsToAModelOfTheCatalogue(t *testing.T) {
	t.Parallel()
	for _, f := range ForeignModels {
		if _, ok := Lookup(f.ID); !ok || f.Why == "" {
			t.Errorf("%s maps to %q, which the catalogue lacks (or says not why)", f.Name, f.ID)
		}
	}
}

func TestMapForeign(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"gpt-4o-mini", DefaultModel},
		{"gpt-4o-mini-2024-07-18", DefaultModel},
		{"gpt-4o", "us.anthropic.claude-sonnet-5-5"},
		{"claude-haiku-4-5-20251001", "us.anthropic.claude-haiku-4-5-20251001-v1:0"},
		{"claude-sonnet-5-5", "us.anthropic.claude-sonnet-5-5"},
		{LocalID, LocalID},
		{"eu.anthropic.claude-haiku-5-5", "eu.anthropic.claude-haiku-5-5"},
		{"gpt-3.5-turbo", ""},
		{"claude-3-opus-20240229", ""},
		{"gpt-4o-mini-extra", ""},
	}
	for _, tt := range tests {
		got, ok := MapForeign(tt.name)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("MapForeign(%q) = %q, %v; want %q", tt.name, got, ok, tt.want)
		}
	}
}
