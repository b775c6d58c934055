package dynamo

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
)

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
