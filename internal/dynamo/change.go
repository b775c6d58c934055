package dynamo

// How a transition is written (transitions.go has each one): a change,
// the rule's condition and target status from jobs.Rules (guarded, held),
// and apply, which writes it as one conditional UpdateItem (applyOne) or,
// when it ends or reopens a counted job or writes text chunks, as one
// transaction with the budget's counters (applyInTransaction, with
// settle.go's counters) and the chunks.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
)

// change is one conditional transition of a job: the condition its current
// state must meet (the item's existence is always added), the status it
// moves to (empty: unchanged), the rest of the update, and the values they
// use. Attribute names are written as #name placeholders; the update starts
// with SET.
type change struct {
	cond string
	// rule is the transition's rule (guarded): apply settles the job's
	// budget when it says so (jobs.Rule.Settles). A change that is no
	// transition (a charge) has none.
	rule   jobs.Rule
	to     jobs.Status
	update string
	values map[string]types.AttributeValue
	// reopens marks a change that may move an ended job back to queued
	// (Requeue), which holds its budget again; wantJob asks apply to
	// return the job even when it had to write a transaction.
	reopens bool
	wantJob bool
	// puts are items written with the change, in its transaction (the
	// worker's output chunks, text.go): none is written unless the change
	// is made.
	puts []types.TransactWriteItem
	// charge is what the attempt that makes the change used, charged with
	// it (Finish: jobs.Progress.Charge), in the settlement's transaction.
	charge *attemptCharge
}

// attemptCharge is an attempt's tokens, to charge once (Store.Charge).
type attemptCharge struct {
	attempt int
	tokens  jobs.Tokens
}

// guarded is the change for transition t of the owner's job, by a caller
// holding attempt (Held rules only): its condition and target come from
// the rule in jobs.Rules, and its values hold what the condition uses.
// The caller adds the update and the values the update uses, and may add
// a condition of its own with AND.
func guarded(t jobs.Transition, attempt int, now time.Time) change {
	r, ok := jobs.Rules[t]
	if !ok {
		panic(fmt.Sprintf("dynamo: no rule for transition %q", t))
	}
	values := map[string]types.AttributeValue{}
	var alts []string
	if len(r.From) > 0 {
		names := make([]string, len(r.From))
		for i, st := range r.From {
			names[i] = ":" + string(st)
			values[names[i]] = statusValue(st)
		}
		alts = append(alts, "#status IN ("+strings.Join(names, ", ")+")")
	}
	if r.Lapsed || r.Held {
		values[":running"] = statusValue(jobs.StatusRunning)
	}
	if r.Lapsed {
		alts = append(alts, "(#status = :running AND #lease_until < :nowms)")
		values[":nowms"] = num(millis(now))
	}
	if r.Held {
		alts = append(alts, "(#status = :running AND #attempts = :attempt)")
		values[":attempt"] = num(int64(attempt))
	}
	return change{cond: "(" + strings.Join(alts, " OR ") + ")", rule: r, to: r.To, values: values}
}

// held is the change t by the worker holding attempt (a Held rule), with
// :now set for its update.
func held(t jobs.Transition, attempt int, now time.Time) change {
	c := guarded(t, attempt, now)
	c.values[":now"] = str(formatTime(now))
	return c
}

// updateInput is the UpdateItem for c on the owner's job id. Every path
// that writes a transition (apply, and AbandonEnqueue's transaction) goes
// through here, so the status and active_owner, the key of activeIndex,
// always change together: active_owner is the owner while the job is
// queued or running and absent once it is terminal.
func (c change) updateInput(table, owner, id string) (*dynamodb.UpdateItemInput, error) {
	cond := "attribute_exists(#pk) AND (" + c.cond + ")"
	update, values := c.update, c.values
	if c.to != "" {
		values = maps.Clone(values)
		values[":to_status"] = statusValue(c.to)
		set := "#status = :to_status"
		if c.to.Terminal() {
			update = addRemove(update, "#active_owner")
		} else {
			set += ", #active_owner = :active_owner"
			values[":active_owner"] = str(owner)
		}
		rest, ok := strings.CutPrefix(update, "SET ")
		if !ok {
			return nil, fmt.Errorf("update %q must start with SET", c.update)
		}
		update = "SET " + set + ", " + rest
	}
	if err := checkValues(values, cond, update); err != nil {
		return nil, err
	}
	return &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       jobKey(owner, id),
		ConditionExpression:       aws.String(cond),
		UpdateExpression:          aws.String(update),
		ExpressionAttributeNames:  namesIn(cond, update),
		ExpressionAttributeValues: values,
	}, nil
}

// addRemove adds attr to the update's REMOVE clause (DynamoDB allows one).
func addRemove(update, attr string) string {
	if before, after, ok := strings.Cut(update, " REMOVE "); ok {
		return before + " REMOVE " + attr + ", " + after
	}
	return update + " REMOVE " + attr
}

var valueRE = regexp.MustCompile(`:[a-z_]+`)

// checkValues enforces DynamoDB's rule that expressions use every value
// given and are given every value used. kumo does not enforce it, so
// without this check a mistake would pass the tests and fail in AWS.
func checkValues(values map[string]types.AttributeValue, exprs ...string) error {
	used := map[string]bool{}
	for _, e := range exprs {
		for _, v := range valueRE.FindAllString(e, -1) {
			used[v] = true
			if _, ok := values[v]; !ok {
				return fmt.Errorf("expression uses %s, which has no value", v)
			}
		}
	}
	for v := range values {
		if !used[v] {
			return fmt.Errorf("value %s is unused in the expression", v)
		}
	}
	return nil
}

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

// applyOne runs c on the owner's job id and returns the job after it
// (apply, above, is what transitions call: it settles a counted job's
// budget in the same write when c ends or reopens the job). When the
// condition fails it returns the job as it was and an error matching
// jobs.ErrConflict, or jobs.ErrNotFound when there is no such job.
//
// Every apply also sets a fresh write token. If the SDK retried the update
// because an answer was lost, the retry fails the condition the first
// attempt already changed; finding its own token on the item tells apply
// that the change is made and the call succeeded.
func (s *Store) applyOne(ctx context.Context, owner, id string, c change) (jobs.Job, error) {
	rest, ok := strings.CutPrefix(c.update, "SET ")
	if !ok {
		return jobs.Job{}, fmt.Errorf("update %q must start with SET", c.update)
	}
	token := newWriteToken()
	c.update = "SET #write_token = :write_token, " + rest
	c.values = maps.Clone(c.values)
	c.values[":write_token"] = str(token)

	in, err := c.updateInput(s.table, owner, id)
	if err != nil {
		return jobs.Job{}, err
	}
	in.ReturnValues = types.ReturnValueAllNew
	// DynamoDB then returns the item that failed the condition, which
	// saves a read to tell "missing" from "wrong state". Stand-ins that
	// ignore it get the read.
	in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	out, err := s.client.UpdateItem(ctx, in)
	if err != nil {
		var failed *types.ConditionalCheckFailedException
		if errors.As(err, &failed) {
			return s.lostCondition(ctx, owner, id, failed.Item, token)
		}
		return jobs.Job{}, translate(err)
	}
	return decodeJob(out.Attributes)
}

// lostCondition explains a failed condition on the owner's job id: not
// found, or a conflict with the job as it is (old, when DynamoDB returned
// it, else read now) — unless the item carries token, the failed write's
// own, in which case an earlier attempt of it succeeded.
func (s *Store) lostCondition(ctx context.Context, owner, id string, old map[string]types.AttributeValue, token string) (jobs.Job, error) {
	var cur item
	var err error
	if len(old) > 0 {
		cur, err = decodeItem(old)
	} else {
		cur, err = s.getItem(ctx, owner, id)
	}
	if err != nil {
		return jobs.Job{}, err
	}
	j, err := cur.job()
	if err != nil {
		return jobs.Job{}, err
	}
	if token != "" && cur.WriteToken == token {
		return j, nil
	}
	// The caller may show the job as it is (a claim of a finished job):
	// with its prompt, and its text as far as the preview goes, which
	// costs no read of the output (the rescuer may not read it).
	if j, err = s.complete(ctx, j, len(j.GeneratedText)); err != nil {
		return jobs.Job{}, err
	}
	return j, fmt.Errorf("job is %s at attempt %d: %w", j.Status, j.Attempts, jobs.ErrConflict)
}

func statusValue(st jobs.Status) types.AttributeValue { return str(string(st)) }
