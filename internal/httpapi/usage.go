package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/jobs"
)

// usageView is GET /usage: the caller's day as the budget counters hold
// it. Token counts are the model's own (every attempt and continuation of
// the day's jobs, prompt-cache tokens included); reserved is what jobs not
// yet ended still hold beyond what they were charged. The cost is an
// estimate: the catalogue's list prices (internal/catalogue) times the
// tokens charged, without discounts, taxes or free tiers; $0 where the
// local stand-in answered (Config.StandIn).
type usageView struct {
	Day      string        `json:"day"`
	ResetsAt string        `json:"resets_at"`
	Tokens   usageTokens   `json:"tokens"`
	ByModel  []modelTokens `json:"by_model"`
	// EstimatedCostUSD is the sum of ByModel's costs.
	EstimatedCostUSD float64      `json:"estimated_cost_usd"`
	Jobs             usageJobs    `json:"jobs"`
	Budget           *usageBudget `json:"budget"`
}

type usageTokens struct {
	Charged  int `json:"charged"`
	Reserved int `json:"reserved"`
}

type modelTokens struct {
	Model      string `json:"model"`
	Name       string `json:"name"` // the catalogue's display name, or the id
	Input      int    `json:"input"`
	Output     int    `json:"output"`
	CacheRead  int    `json:"cache_read"`
	CacheWrite int    `json:"cache_write"`
	// CostUSD is at the model's list prices (its batch price for the
	// economy lane's tokens); null for a model the catalogue has no prices
	// for (one dropped from it since).
	CostUSD *float64 `json:"cost_usd"`
	// Economy marks tokens of economy jobs, billed at the batch price.
	Economy bool `json:"economy,omitempty"`
	// LongContext marks a model's tokens from calls whose prompt passed
	// its long-context band (Claude Haiku 5.5: over 100,000 tokens),
	// billed at its factor (5x) and counted so against the budget.
	LongContext bool `json:"long_context,omitempty"`
}

type usageJobs struct {
	Active int  `json:"active"`
	Cap    *int `json:"cap"` // null: no cap
}

// usageBudget is the daily token budget; null when there is none.
type usageBudget struct {
	TokensPerDay int `json:"tokens_per_day"`
	Remaining    int `json:"remaining"`
}

// getUsage is GET /usage.
func (h *Handler) getUsage(w http.ResponseWriter, r *http.Request) {
	if h.deps.Usage == nil {
		h.writeError(w, r, &jobs.Error{Kind: jobs.KindNotFound, Message: "Usage is not counted by this deployment."})
		return
	}
	u, err := h.deps.Usage.Usage(r.Context(), ownerFrom(r.Context()))
	if err != nil {
		h.writeError(w, r, fmt.Errorf("read usage: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, h.usageViewOf(u))
}

// roundCents rounds dollars to a hundredth of a cent: finer than any price
// shown, and free of float noise such as 0.30000000000000004.
func roundCents(d float64) float64 { return math.Round(d*1e4) / 1e4 }

func (h *Handler) usageViewOf(u jobs.Usage) usageView {
	day, err := time.Parse(time.DateOnly, u.Day)
	if err != nil {
		day = h.cfg.Now().UTC().Truncate(24 * time.Hour)
	}
	v := usageView{
		Day:      u.Day,
		ResetsAt: day.Add(24 * time.Hour).Format(time.RFC3339),
		Tokens:   usageTokens{Charged: u.Charged, Reserved: u.Reserved()},
		ByModel:  []modelTokens{},
		Jobs:     usageJobs{Active: u.Active},
	}
	for key, t := range u.ByModel {
		k := jobs.ParseUsageKey(key)
		id := k.Model
		mt := modelTokens{Model: id, Name: id, Input: t.Input, Output: t.Output, CacheRead: t.CacheRead, CacheWrite: t.CacheWrite,
			Economy: k.Batch, LongContext: k.Long}
		if m, ok := catalogue.Lookup(id); ok {
			mt.Name = m.Name
		}
		if prices, ok := k.Prices(); ok {
			if h.cfg.StandIn {
				prices = catalogue.Prices{} // the local stand-in answered: no model was called
			}
			cost := roundCents(prices.Cost(t.Input, t.Output, t.CacheRead, t.CacheWrite))
			mt.CostUSD = &cost
			v.EstimatedCostUSD += cost
		}
		v.ByModel = append(v.ByModel, mt)
	}
	v.EstimatedCostUSD = roundCents(v.EstimatedCostUSD)
	sort.Slice(v.ByModel, func(i, j int) bool {
		a, b := v.ByModel[i], v.ByModel[j]
		return a.Model < b.Model || a.Model == b.Model && (!a.Economy && b.Economy || a.Economy == b.Economy && !a.LongContext && b.LongContext)
	})
	if c := h.cfg.Budgets.ActiveJobs; c > 0 {
		v.Jobs.Cap = &c
	}
	if b := h.cfg.Budgets.TokensPerDay; b > 0 {
		v.Budget = &usageBudget{TokensPerDay: b, Remaining: max(0, b-u.Committed)}
	}
	return v
}
