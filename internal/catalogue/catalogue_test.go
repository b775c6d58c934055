package catalogue

import (
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
		{DefaultModel, "anthropic.claude-haiku-4-5-20251001-v1:0", "us", true},
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
		case m.Name == "" || m.Source == "":
			t.Errorf("%s lacks a name or a source", m.ID)
		case m.MaxOutputTokens < 1 || m.ContextWindow <= m.MaxOutputTokens:
			t.Errorf("%s: max output %d, context %d", m.ID, m.MaxOutputTokens, m.ContextWindow)
		case m.Continuation != Prefill && m.Continuation != Restart:
			t.Errorf("%s: continuation %q", m.ID, m.Continuation)
		case !m.Local && (m.Prices.Input <= 0 || m.Prices.Output <= 0 || m.Prices.CacheRead <= 0 || m.Prices.CacheWrite <= 0):
			t.Errorf("%s: incomplete prices %+v", m.ID, m.Prices)
		case !m.Local && m.CacheMinTokens < 1:
			t.Errorf("%s: no caching minimum", m.ID)
		case strings.Contains(m.ID, "claude-3-5-haiku"):
			t.Errorf("%s reached its end of life on Bedrock on 2026-06-19", m.ID)
		}
		seen[m.ID] = true
	}
	if _, ok := Lookup(DefaultModel); !ok {
		t.Errorf("the default model %s is not in the catalogue", DefaultModel)
	}
}

func TestEntriesKeepTheAllowListOrderAndIDs(t *testing.T) {
	t.Parallel()
	got := Entries([]string{LocalID, DefaultModel, "x.unknown"})
	if len(got) != 3 || got[0].ID != LocalID || got[1].ID != DefaultModel || got[1].Name != "Claude Haiku 4.5" ||
		got[1].MaxOutputTokens != 64_000 || got[2].Name != "x.unknown" || got[2].MaxOutputTokens != 0 {
		t.Errorf("Entries = %+v", got)
	}
}

func TestBatchPricesAreTheDiscountOfOnDemand(t *testing.T) {
	p := Prices{Input: 1, Output: 5, CacheRead: 0.1, CacheWrite: 1.25}
	want := Prices{Input: 0.5, Output: 2.5, CacheRead: 0.05, CacheWrite: 0.625}
	if got := p.Batch(); got != want {
		t.Errorf("Batch() = %+v, want %+v", got, want)
	}
}
