package batch

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Usage is the caller's day as GET /usage returns it, printed at the end
// of a run: what the run (and anything else of the caller's today) was
// charged, and how much of the daily budget is left.
type Usage struct {
	Day    string `json:"day"`
	Tokens struct {
		Charged  int `json:"charged"`
		Reserved int `json:"reserved"`
	} `json:"tokens"`
	ByModel []struct {
		Model      string   `json:"model"`
		Name       string   `json:"name"`
		Input      int      `json:"input"`
		Output     int      `json:"output"`
		CacheRead  int      `json:"cache_read"`
		CacheWrite int      `json:"cache_write"`
		CostUSD    *float64 `json:"cost_usd"`
	} `json:"by_model"`
	EstimatedCostUSD float64 `json:"estimated_cost_usd"`
	Jobs             struct {
		Active int  `json:"active"`
		Cap    *int `json:"cap"`
	} `json:"jobs"`
	Budget *struct {
		TokensPerDay int `json:"tokens_per_day"`
		Remaining    int `json:"remaining"`
	} `json:"budget"`
}

// getUsage is GET /usage.
func (c *client) getUsage() (Usage, error) {
	res, err := c.do(http.MethodGet, "/usage", nil)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	if err := json.Unmarshal(res.Body, &u); err != nil {
		return Usage{}, fmt.Errorf("GET /usage: the answer is not JSON: %w", err)
	}
	return u, nil
}

// print writes the usage as two lines for the run's summary.
func (u Usage) print(w io.Writer) {
	var models []string
	for _, m := range u.ByModel {
		s := fmt.Sprintf("%s %d in, %d out", cmp.Or(m.Name, m.Model), m.Input, m.Output)
		if m.CacheRead+m.CacheWrite > 0 {
			s += fmt.Sprintf(", %d read from and %d written to the prompt cache", m.CacheRead, m.CacheWrite)
		}
		models = append(models, s)
	}
	by := ""
	if len(models) > 0 {
		by = " (" + strings.Join(models, "; ") + ")"
	}
	fmt.Fprintf(w, "batch: your usage today (%s UTC): %d tokens charged%s, about $%.4f at list prices; %d reserved by jobs not yet ended\n",
		u.Day, u.Tokens.Charged, by, u.EstimatedCostUSD, u.Tokens.Reserved)
	line := fmt.Sprintf("batch: %d jobs queued or running", u.Jobs.Active)
	if u.Jobs.Cap != nil {
		line += fmt.Sprintf(" (at most %d at once)", *u.Jobs.Cap)
	}
	if u.Budget != nil {
		line += fmt.Sprintf("; %d of your %d daily tokens left", u.Budget.Remaining, u.Budget.TokensPerDay)
	}
	fmt.Fprintln(w, line)
}
