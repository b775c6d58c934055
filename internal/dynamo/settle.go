package dynamo

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
)

// apply runs c on the owner's job id and returns the job after it (see
// applyOne). A change that ends a job counted in its owner's budgets
// (Cancel, Finish, Fail, MarkFailed, AbandonEnqueue) settles it in the same
// transaction: the job is marked settled, what is left of its reservation
// goes back to its day's counters and its place back to the active-jobs
// counter. A change that queues an ended job again (Requeue) holds them
// again. Other changes are one conditional UpdateItem, as before budgets.
func (s *Store) apply(ctx context.Context, owner, id string, c change) (jobs.Job, error) {
	if !c.to.Terminal() && !c.reopens {
		return s.applyOne(ctx, owner, id, c)
	}
	for try := 1; ; try++ {
		it, err := s.getItem(ctx, owner, id)
		if err != nil {
			return jobs.Job{}, err
		}
		cur, err := it.job()
		if err != nil {
			return jobs.Job{}, err
		}
		b := cur.Budget
		settles := c.to.Terminal() && b.Counted() && !b.Settled
		reopens := c.reopens && b.Counted() && b.Settled
		if !settles && !reopens {
			// Nothing to move; the condition holds the budget to what was
			// read, so a job that a concurrent write settled or reopened
			// since is tried again.
			cc := c
			cc.values = cloneValues(c.values)
			if b.Counted() {
				guardBudget(&cc, b)
			}
			j, err := s.applyOne(ctx, owner, id, cc)
			if errors.Is(err, jobs.ErrConflict) && j.Budget != b && try < transactAttempts {
				continue
			}
			return j, err
		}
		cc := c
		cc.values = cloneValues(c.values)
		adds := s.settleCounters(owner, &cc, b, settles)
		up, err := s.jobUpdate(owner, id, cc)
		if err != nil {
			return jobs.Job{}, err
		}
		for {
			items := []types.TransactWriteItem{{Update: up}}
			for _, a := range adds {
				items = append(items, types.TransactWriteItem{Update: s.counterUpdate(a)})
			}
			err = s.transact(ctx, items)
			var canceled *types.TransactionCanceledException
			if err == nil || !errors.As(err, &canceled) {
				break
			}
			if reasonIs(canceled.CancellationReasons, 0, "ConditionalCheckFailed") {
				break
			}
			// A counter that would go below zero (or is gone: its day is
			// long past) is left out rather than fail the job's change.
			kept := adds[:0:0]
			for i, a := range adds {
				if !reasonIs(canceled.CancellationReasons, i+1, "ConditionalCheckFailed") {
					kept = append(kept, a)
				}
			}
			if len(kept) == len(adds) {
				break
			}
			slog.WarnContext(ctx, "a budget counter could not move without going below zero; left as it is",
				"job_id", id, "counters", len(adds)-len(kept))
			adds = kept
		}
		var canceled *types.TransactionCanceledException
		switch {
		case err == nil:
			if !c.wantJob {
				return jobs.Job{}, nil
			}
			return s.get(ctx, owner, id)
		case errors.As(err, &canceled) && reasonIs(canceled.CancellationReasons, 0, "ConditionalCheckFailed"):
			j, lerr := s.lostCondition(ctx, owner, id, nil, "")
			if lerr == nil || (errors.Is(lerr, jobs.ErrConflict) && j.Budget != b && try < transactAttempts) {
				// The budget moved under us (a charge): try again with it.
				continue
			}
			return j, lerr
		default:
			return jobs.Job{}, translate(err)
		}
	}
}

// settleCounters adds to c what settling (or reopening) the job with
// budget b writes on the job, and returns the counters it moves.
func (s *Store) settleCounters(owner string, c *change, b jobs.Budget, settle bool) []counterAdd {
	guardBudget(c, b)
	var dn, active int
	if settle {
		_, dn = b.Settle()
		active = -1
		c.update = addSet(c.update, "#settled = :true")
		c.values[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	} else {
		_, dn = b.Reopen()
		active = 1
		c.update = addRemove(c.update, "#settled")
	}
	adds := s.dayCounters(owner, b, dn, 0, "", jobs.Tokens{})
	return append(adds, activeCounter(owner, active))
}

func cloneValues(v map[string]types.AttributeValue) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(v)+4)
	for k, x := range v {
		out[k] = x
	}
	return out
}

// settleInTransaction adds the settlement of the job with budget b to a
// transaction that ends it (AbandonEnqueue's, which also deletes the
// idempotency record): c gains the budget's condition and mark, and the
// returned updates go in the same transaction.
func (s *Store) settleInTransaction(owner string, c *change, b jobs.Budget) []types.TransactWriteItem {
	if !b.Counted() || b.Settled {
		return nil
	}
	c.values = cloneValues(c.values)
	var out []types.TransactWriteItem
	for _, a := range s.settleCounters(owner, c, b, true) {
		out = append(out, types.TransactWriteItem{Update: s.counterUpdate(a)})
	}
	return out
}

// addSet adds an assignment to the update's SET clause, which it starts
// with (before any REMOVE clause).
func addSet(update, assignment string) string {
	if before, after, ok := strings.Cut(update, " REMOVE "); ok {
		return before + ", " + assignment + " REMOVE " + after
	}
	return update + ", " + assignment
}
