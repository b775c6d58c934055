package httpapi

import (
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/jobs"
)

// jobView is a job as clients see it (docs/openapi.yaml, schema Job).
type jobView struct {
	JobID       string      `json:"job_id"`
	Status      jobs.Status `json:"status"`
	Lane        jobs.Lane   `json:"lane"`
	Prompt      string      `json:"prompt"`
	System      string      `json:"system,omitempty"`
	Model       string      `json:"model"`
	MaxTokens   int         `json:"max_tokens"`
	Temperature *float64    `json:"temperature,omitempty"`
	// Effort is the effort level the model ran at, and Thinking whether it
	// could think first ("adaptive") or not ("off"); both absent for a
	// model without them. Thinking tokens are in tokens.output: Bedrock's
	// Converse reports no separate count.
	Effort        string `json:"effort,omitempty"`
	Thinking      string `json:"thinking,omitempty"`
	GeneratedText string `json:"generated_text"`
	// ResponseFormat is the schema the answer must conform to, and
	// GeneratedJSON the answer as JSON once the job succeeded with it
	// (an answer that does not conform fails the job); both absent for a
	// job of text, and in listings.
	ResponseFormat *jobs.ResponseFormat `json:"response_format,omitempty"`
	GeneratedJSON  json.RawMessage      `json:"generated_json,omitempty"`
	Tokens         jobs.Tokens          `json:"tokens"`
	StopReason     string               `json:"stop_reason,omitempty"`
	// Continuations counts the model calls that went on from text an
	// earlier call had written.
	Continuations int           `json:"continuations"`
	Error         *jobs.Failure `json:"error,omitempty"`
	Attempts      int           `json:"attempts"`
	CreatedAt     string        `json:"created_at"`
	UpdatedAt     string        `json:"updated_at"`
	StartedAt     string        `json:"started_at,omitempty"`
	FinishedAt    string        `json:"finished_at,omitempty"`
	DurationMS    int64         `json:"duration_ms,omitempty"`
	// Truncated is set in listings, where prompt and generated_text are
	// previews; GET /jobs/{id} has them whole.
	Truncated bool `json:"truncated,omitempty"`
	// Economy is an economy job's progress through Bedrock's batch
	// inference.
	Economy *economyView `json:"economy,omitempty"`
	// Continues is the job whose answer this one goes on with (POST
	// /generate's continue): its generated_text starts as that job's.
	Continues string `json:"continues,omitempty"`
	// Waiting says why a queued job waits and what comes next, when a
	// worker gave it back (jobs.Job.Waiting): absent otherwise.
	Waiting *waitingView `json:"waiting,omitempty"`
	// TextDueInMS is, for a running job, how many milliseconds until its
	// worker is due to write more of its text (jobs.Job.TextDueIn), so a
	// poller can ask just after; absent when no write is due soon.
	TextDueInMS *int64 `json:"text_due_in_ms,omitempty"`
	// Charged is what the job was charged against its owner's daily
	// budget, whatever became of it (a cancelled or failed job too); nil
	// for a job not counted (a deployment without usage).
	Charged *chargeView `json:"charged,omitempty"`
}

// waitingView is why a queued job waits: retry (a try failed; Attempt of
// MaxAttempts, and Error what failed), fair_share, pace, throttled or busy
// (it waits for capacity: its owner's fair share of the lane, the model's
// tokens-per-minute pace, the model's quota, every seat of the model in
// use), or continuing (its answer
// goes on in another invocation). Until is when its message comes back to
// a worker (the job's sent_at).
type waitingView struct {
	Reason      jobs.WaitReason `json:"reason"`
	Until       string          `json:"until"`
	Attempt     int             `json:"attempt,omitempty"`
	MaxAttempts int             `json:"max_attempts,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// chargeView is what a job was charged: every call's tokens as the daily
// budget counts them (GET /usage's tokens.charged is the sum of the day's
// jobs'), by kind, and their estimated cost at the model's list prices.
type chargeView struct {
	Tokens     int `json:"tokens"`
	Input      int `json:"input"`
	Output     int `json:"output"`
	CacheRead  int `json:"cache_read"`
	CacheWrite int `json:"cache_write"`
	// EstimatedCostUSD is null for a model the catalogue has no prices
	// for, or for a job charged before its charge was kept by kind.
	EstimatedCostUSD *float64 `json:"estimated_cost_usd"`
	// Pending: the job has ended but its charge may still grow
	// (jobs.Job.ChargeMayGrow); look again.
	Pending bool `json:"pending,omitempty"`
}

// economyView is where an economy job stands: "waiting" to be gathered
// into a run, or "in_run", with the run's records processed so far.
type economyView struct {
	State        string `json:"state"`
	RunID        string `json:"run_id,omitempty"`
	RecordsDone  int    `json:"records_done"`
	RecordsTotal int    `json:"records_total"`
	Fallback     bool   `json:"economy_fallback"`
	// ChargePending: the job was cancelled inside its run, which has not
	// ended; Bedrock may still process its prompt, and what it processes
	// is charged to its owner when the run ends (jobs.Job.ChargePending).
	ChargePending bool `json:"charge_pending,omitempty"`
}

// previewChars is how much of the prompt and text a listing carries. A page
// of 100 whole jobs could pass Lambda's 6 MB response limit.
const previewChars = jobs.ListPreviewChars

// viewOf is j as GET /jobs/{id} shows it at now.
func (h *Handler) viewOf(j jobs.Job, now time.Time) jobView {
	v := jobView{
		JobID:         j.ID,
		Status:        j.Status,
		Lane:          j.Lane.OrDefault(),
		Prompt:        j.Prompt,
		System:        j.System,
		Model:         j.Model,
		MaxTokens:     j.MaxTokens,
		Temperature:   j.Temperature,
		Effort:        j.Effort,
		Thinking:      thinkingOf(j),
		GeneratedText: j.GeneratedText,
		Tokens:        j.Tokens,
		StopReason:    j.StopReason,
		Continuations: j.Continuations,
		Error:         j.Failure,
		Attempts:      j.Attempts,
		CreatedAt:     timestamp(j.CreatedAt),
		UpdatedAt:     timestamp(j.UpdatedAt),
		StartedAt:     timestamp(j.StartedAt),
		FinishedAt:    timestamp(j.FinishedAt),
		Continues:     j.ContinuesFrom,
	}
	if v.UpdatedAt == "" {
		v.UpdatedAt = v.CreatedAt
	}
	if f := j.ResponseFormat; f != nil {
		v.ResponseFormat = f
		if j.Status == jobs.StatusSucceeded {
			// The worker checked it; a job no worker checked (stored by
			// hand) shows none.
			v.GeneratedJSON, _ = f.Check(j.GeneratedText)
		}
	}
	if !j.StartedAt.IsZero() && !j.FinishedAt.IsZero() {
		v.DurationMS = j.FinishedAt.Sub(j.StartedAt).Milliseconds()
	}
	if e := j.Economy; e != nil {
		v.Economy = &economyView{State: "waiting", RunID: e.RunID, RecordsDone: e.RecordsDone,
			RecordsTotal: e.RecordsTotal, Fallback: j.EconomyFallback}
		if e.RunID != "" {
			v.Economy.State = "in_run"
		}
		v.Economy.ChargePending = j.ChargePending()
	}
	if w := j.Waiting; w != nil && j.Status == jobs.StatusQueued {
		v.Waiting = &waitingView{Reason: w.Reason, Until: timestamp(j.SentAt), Attempt: w.Try, MaxAttempts: w.Tries, Error: w.Error}
	}
	if d, ok := j.TextDueIn(now); ok {
		ms := d.Milliseconds()
		v.TextDueInMS = &ms
	}
	if b := j.Budget; b.Counted() {
		t := b.ChargedTokens
		v.Charged = &chargeView{Tokens: b.Charged, Input: t.Input, Output: t.Output, CacheRead: t.CacheRead,
			CacheWrite: t.CacheWrite, Pending: j.ChargeMayGrow(now)}
		if cost, ok := j.ChargeCost(); ok && t.Total() == b.Charged {
			if h.cfg.StandIn {
				cost = 0 // the local stand-in answered: no model was called
			}
			cost = roundCents(cost)
			v.Charged.EstimatedCostUSD = &cost
		}
	}
	return v
}

// thinkingOf says whether j's model could think first at j's effort, as
// its calls ask it (jobs.Request.Params): "adaptive", "off", or "" for a
// model without adaptive thinking.
func thinkingOf(j jobs.Job) string {
	if m, ok := catalogue.Lookup(j.Model); !ok || !m.Thinking.Adaptive {
		return ""
	}
	if j.Request().Params().Thinks {
		return "adaptive"
	}
	return "off"
}

func (h *Handler) previewOf(j jobs.Job, now time.Time) jobView {
	v := h.viewOf(j, now)
	v.System, v.ResponseFormat, v.GeneratedJSON = "", nil, nil
	var cutP, cutT bool
	v.Prompt, cutP = preview(v.Prompt)
	v.GeneratedText, cutT = preview(v.GeneratedText)
	v.Truncated = cutP || cutT
	return v
}

func preview(s string) (string, bool) {
	if utf8.RuneCountInString(s) <= previewChars {
		return s, false
	}
	n := 0
	for i := range s {
		if n == previewChars {
			return s[:i], true
		}
		n++
	}
	return s, false
}

// timestamp formats t in UTC with milliseconds; the zero time is "".
func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
