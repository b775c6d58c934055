package batch

import (
	"encoding/json"
	"fmt"

	"github.com/promptq/promptq/internal/jobs"
)

// Result is one line of the results file. There is one for every
// non-blank input line, in input order.
type Result struct {
	ID     string `json:"id,omitempty"`
	Line   int    `json:"line"`
	JobID  string `json:"job_id,omitempty"`
	Status string `json:"status"`
	// GeneratedText and Tokens are present for lines that have a job
	// (empty until it has run; without --wait it has not been read).
	GeneratedText *string `json:"generated_text,omitempty"`
	// GeneratedJSON is the answer as JSON, for a request with a schema
	// (response_format) whose job succeeded.
	GeneratedJSON json.RawMessage `json:"generated_json,omitempty"`
	Tokens        *jobs.Tokens    `json:"tokens,omitempty"`
	Error         *ErrorInfo      `json:"error,omitempty"`
	// StopReason and Model are the job's, for the formats whose results
	// carry them (OpenAI's, Anthropic's).
	StopReason string `json:"-"`
	Model      string `json:"-"`
}

// statusUnsent marks a line the API did not accept in this run because it
// kept failing for a moment; a re-run sends it again.
const statusUnsent = "unsent"

// results builds the results in input order.
func (r *run) results() []Result {
	r.track.mu.Lock()
	defer r.track.mu.Unlock()
	r.unsentMu.Lock()
	defer r.unsentMu.Unlock()
	out := make([]Result, 0, len(r.lines))
	for _, l := range r.lines {
		res := Result{ID: l.ID, Line: l.N}
		rec, ok := r.track.recs[l.N]
		switch {
		case l.Err != nil:
			res.Status, res.Error = statusRejected, l.Err
		case !ok:
			why := r.unsent[l.N]
			if why == "" {
				why = "the run ended before this line was sent"
			}
			res.Status = statusUnsent
			res.Error = &ErrorInfo{Code: "unsent", Message: fmt.Sprintf("Not accepted by the API in this run (%s); run the same command again to send it.", why)}
		case rec.Status == statusRejected:
			res.Status, res.Error = statusRejected, rec.Error
		default:
			text := rec.GeneratedText
			tokens := jobs.Tokens{}
			if rec.Tokens != nil {
				tokens = *rec.Tokens
			}
			res.JobID, res.Status, res.GeneratedText, res.Tokens, res.Error = rec.JobID, rec.Status, &text, &tokens, rec.Error
			res.StopReason, res.Model, res.GeneratedJSON = rec.StopReason, rec.Model, rec.GeneratedJSON
		}
		out = append(out, res)
	}
	return out
}

// writeResults replaces the results file with every line's result, in
// the input format's shape.
func (r *run) writeResults() error {
	data, err := r.format.encode(r.results())
	if err != nil {
		return err
	}
	if err := writeFileAtomic(r.o.Output, data); err != nil {
		return fmt.Errorf("write results %s: %w", r.o.Output, err)
	}
	return nil
}
