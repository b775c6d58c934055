package dynamo

import (
	"context"
	"errors"
	"fmt"
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

// applyOne runs c on the owner's job id and returns the job after it
// (apply, in settle.go, is what transitions call: it settles a counted
// job's budget in the same write when c ends or reopens the job). When the
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
