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
// counter (jobs.Rule.Settles: not a job cancelled inside an economy run,
// which keeps its budget until SettleRun). A change that queues an ended job again (Requeue) holds them
// again. A change with puts (the worker's text chunks, text.go) writes them
// in the same transaction too. Any other change is one conditional
// UpdateItem.
//
// Every transition goes through here, so no way of ending a job (with text
// or without) can skip its settlement.
func (s *Store) apply(ctx context.Context, owner, id string, c change) (jobs.Job, error) {
	if !c.to.Terminal() && !c.reopens {
		if len(c.puts) == 0 {
			return s.applyOne(ctx, owner, id, c)
		}
		return s.applyInTransaction(ctx, owner, id, c, nil)
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
		cc := c
		cc.values = cloneValues(c.values)
		var adds []counterAdd
		switch settles := c.rule.Settles(cur); {
		case settles || (c.reopens && b.Counted() && b.Settled):
			adds = s.settleCounters(owner, &cc, cur, settles)
		case b.Counted():
			// Nothing to settle; the condition holds the budget to what
			// was read, so a job that a concurrent write settled or
			// reopened since is tried again.
			guardBudget(&cc, b)
			adds = s.chargeCounters(owner, &cc, cur, b)
		}
		if c.rule.KeepsRunBudget {
			// Whether it settles depends on the job being in a run: the
			// condition holds that to what was read too.
			guardRun(&cc, cur)
		}
		var j jobs.Job
		if len(adds) == 0 && len(cc.puts) == 0 {
			j, err = s.applyOne(ctx, owner, id, cc)
		} else {
			j, err = s.applyInTransaction(ctx, owner, id, cc, adds)
		}
		if errors.Is(err, jobs.ErrConflict) && (j.Budget != b || j.InRun() != cur.InRun()) && try < transactAttempts {
			// The budget moved under us (a charge), or the job went into
			// or out of an economy run: try again with it.
			continue
		}
		return j, err
	}
}

// applyInTransaction writes c on the owner's job id, the counters adds move
// and c's puts in one transaction. A counter that would go below zero (or
// is gone: its day is long past) is left out rather than fail the job's
// change. When c's condition fails it returns what applyOne would; the job
// after a successful change only when c.wantJob.
func (s *Store) applyInTransaction(ctx context.Context, owner, id string, c change, adds []counterAdd) (jobs.Job, error) {
	up, err := s.jobUpdate(owner, id, c)
	if err != nil {
		return jobs.Job{}, err
	}
	var canceled *types.TransactionCanceledException
	for {
		items := []types.TransactWriteItem{{Update: up}}
		for _, a := range adds {
			items = append(items, types.TransactWriteItem{Update: s.counterUpdate(a)})
		}
		items = append(items, c.puts...)
		err = s.transact(ctx, items)
		if err == nil || !errors.As(err, &canceled) || reasonIs(canceled.CancellationReasons, 0, "ConditionalCheckFailed") {
			break
		}
		kept, stuck := adds[:0:0], 0
		for i, a := range adds {
			switch {
			case !reasonIs(canceled.CancellationReasons, i+1, "ConditionalCheckFailed"):
				kept = append(kept, a)
			case a.n != 0:
				// Its committed tokens are left as they are; what it
				// charges (an attempt charged with the settlement) still
				// counts, as a charge alone would.
				stuck++
				if a.charged != 0 {
					a.n = 0
					kept = append(kept, a)
				}
			}
		}
		if stuck == 0 {
			break
		}
		slog.WarnContext(ctx, "a budget counter could not move without going below zero; left as it is",
			"job_id", id, "counters", stuck)
		adds = kept
	}
	switch {
	case err == nil:
		if !c.wantJob {
			return jobs.Job{}, nil
		}
		return s.get(ctx, owner, id)
	case errors.As(err, &canceled) && reasonIs(canceled.CancellationReasons, 0, "ConditionalCheckFailed"):
		return s.lostCondition(ctx, owner, id, nil, "")
	default:
		return jobs.Job{}, translate(err)
	}
}

// guardRun makes c's condition require the job to be in the economy run
// it was in when read (cur), or in none: a rule that keeps a run's budget
// (jobs.Rule.KeepsRunBudget) settles, or not, by that.
func guardRun(c *change, cur jobs.Job) {
	if cur.InRun() {
		c.cond += " AND #run_id = :run_was"
		c.values[":run_was"] = str(cur.Economy.RunID)
		return
	}
	c.cond += " AND attribute_not_exists(#run_id)"
}

// settleCounters adds to c what settling (or reopening) the job j, as
// read, writes on the job, and returns the counters it moves. A settlement
// charges c's attempt first, when c carries a charge (Finish), so the
// reservation is released after what the attempt used is counted, in
// the same transaction.
func (s *Store) settleCounters(owner string, c *change, j jobs.Job, settle bool) []counterAdd {
	b := j.Budget
	guardBudget(c, b)
	var dn, active int
	if !settle {
		_, dn = b.Reopen()
		c.update = addRemove(c.update, "#settled")
		return append(s.dayCounters(owner, b, dn, 0, "", jobs.Tokens{}), activeCounter(owner, 1))
	}
	charged, u, key, t := chargeOn(c, j, b)
	_, dn = charged.Settle()
	dn += charged.Held() - b.Held()
	active = -1
	c.update = addSet(c.update, "#settled = :true")
	c.values[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	adds := s.dayCounters(owner, b, dn, u, key, t)
	return append(adds, activeCounter(owner, active))
}

// chargeCounters adds to c the charge of its attempt on the job j as read
// (budget b, which c's condition holds it to) without settling it, and
// returns the day's counters it moves; none without a charge.
func (s *Store) chargeCounters(owner string, c *change, j jobs.Job, b jobs.Budget) []counterAdd {
	charged, u, key, t := chargeOn(c, j, b)
	if u == 0 {
		return nil
	}
	return s.dayCounters(owner, b, charged.Held()-b.Held(), u, key, t)
}

// chargeOn adds c's charge (its attempt's tokens) to c's update on the job
// j with budget b, as Charge writes it, and returns the budget after it,
// the tokens it counts (jobs.Job.BudgetTokens), their usage key and the
// tokens by kind for the day's counters. Without a charge, or when the
// attempt was charged already, it changes nothing and returns b and 0.
func chargeOn(c *change, j jobs.Job, b jobs.Budget) (jobs.Budget, int, string, jobs.Tokens) {
	if c.charge == nil || !b.Counted() || b.ChargedAttempt >= c.charge.attempt {
		return b, 0, "", jobs.Tokens{}
	}
	bt, key := j.BudgetTokens(c.charge.tokens)
	u := bt.Total()
	if u <= 0 {
		return b, 0, "", jobs.Tokens{}
	}
	nb, _ := b.Charge(c.charge.attempt, bt)
	c.update = addSet(c.update, "#charged = :charged_now, #charged_attempt = :charged_attempt")
	c.values[":charged_now"] = num(int64(nb.Charged))
	c.values[":charged_attempt"] = num(int64(c.charge.attempt))
	setChargedTokens(c, nb)
	return nb, u, key.String(), c.charge.tokens
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
	for _, a := range s.settleCounters(owner, c, jobs.Job{Budget: b}, true) {
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
