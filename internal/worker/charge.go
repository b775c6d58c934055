package worker

import (
	"context"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// meter charges a job's owner what one attempt used, every call of it
// (internal/dynamo.Store.Charge): once per attempt, on the job's budget
// day. The store settles the rest of the reservation when the job ends.
type meter interface {
	Charge(ctx context.Context, j jobs.Job, t jobs.Tokens) error
}

// charge charges the attempt (its job as claimed) what the model reported, before
// the attempt's outcome is written: charged first, the day's counters
// never show less than what was spent while the job's reservation is
// released. (A job that succeeds is charged in the write of its result
// instead, which settles it: finish.) It runs even when the invocation's
// context is done, since the tokens were billed anyway. A failure leaves
// the attempt uncharged (the owner's budget is then short by it), which is
// logged.
func (w *Worker) charge(ctx context.Context, at *attempt, t jobs.Tokens) {
	if w.meter == nil || t.Total() <= 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.meter.Charge(cctx, at.job, t); err != nil {
		at.log.ErrorContext(ctx, "could not charge the attempt's tokens to its owner's budget",
			"input_tokens", t.Input, "output_tokens", t.Output, "error", err)
	}
}
