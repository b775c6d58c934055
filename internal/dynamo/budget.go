package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// Budget counters. A job's budget (jobs.Budget, on the job item) and these
// counters move together in one transaction, conditioned on the job's
// budget as read, so that each reservation, charge and release happens
// exactly once and no counter ever goes below zero:
//
//	tokens of a user's day   pk = USER#<sub>  sk = LIMIT#tokens#<day>  n (committed), charged, in:/out:/cr:/cw:<model>
//	a user's active jobs     pk = USER#<sub>  sk = LIMIT#active        n
//	tokens of the stack's day pk = STACK      sk = LIMIT#tokens#<day>  n, charged (only with a stack budget)
//
// n of a day is the sum of its jobs' jobs.Budget.Held: reservations of jobs
// not yet ended (or what they were charged, when more) plus what ended jobs
// were charged. Day counters expire a week after their day; the active
// counter never does.
const (
	stackPK      = jobstable.StackKey
	activeJobsSK = jobstable.ActiveJobsKey
	tokensPrefix = jobstable.TokensPrefix
	// counterKeep is how long a day's counter is kept after its day: a job
	// replayed from the dead-letter queue (14 days' retention at most)
	// settles against its day, and a counter gone by then is skipped
	// rather than recreated below zero.
	counterKeep = 7 * 24 * time.Hour
	// transactAttempts bounds retries of a transaction that lost to a
	// concurrent one on the same counter (TransactionConflict).
	transactAttempts = 8
)

func tokensSK(day string) string { return tokensPrefix + day }

// counterAdd is one counter's part of a budget transaction: add n (and
// charged, and tokens by model) to the counter at pk/sk. With limit > 0 an
// addition must keep n within limit; a subtraction must keep n at zero or
// more.
type counterAdd struct {
	pk, sk     string
	n, charged int
	model      string
	tokens     jobs.Tokens
	limit      int
	expires    time.Time // zero: no expiry
}

func (s *Store) counterUpdate(c counterAdd) *types.Update {
	names := map[string]string{"#n": "n"}
	values := map[string]types.AttributeValue{":n": num(int64(c.n))}
	adds := []string{"#n :n"}
	if c.charged != 0 {
		names["#charged"] = "charged"
		values[":charged"] = num(int64(c.charged))
		adds = append(adds, "#charged :charged")
	}
	if c.model != "" && c.tokens != (jobs.Tokens{}) {
		for i, kind := range modelCounters {
			if n := *kind.field(&c.tokens); n != 0 {
				name, value := fmt.Sprintf("#model_%d", i), fmt.Sprintf(":model_%d", i)
				names[name] = kind.prefix + c.model
				values[value] = num(int64(n))
				adds = append(adds, name+" "+value)
			}
		}
	}
	update := "ADD " + strings.Join(adds, ", ")
	if !c.expires.IsZero() {
		names["#expires_at"] = attrExpiresAt
		values[":expires"] = num(c.expires.Unix())
		update = "SET #expires_at = :expires " + update
	}
	u := &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(c.pk, c.sk),
		UpdateExpression:          aws.String(update),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
	switch {
	case c.n > 0 && c.limit > 0:
		// A missing counter is zero; the caller has checked that n alone
		// fits (an addition bigger than the limit never gets here).
		u.ConditionExpression = aws.String("attribute_not_exists(#n) OR #n <= :room")
		values[":room"] = num(int64(c.limit - c.n))
	case c.n < 0:
		u.ConditionExpression = aws.String("#n >= :floor")
		values[":floor"] = num(int64(-c.n))
	}
	return u
}

// dayCounters are the token counters a job's budget moves by n (and
// charged, by model) on its day.
func (s *Store) dayCounters(owner string, b jobs.Budget, n, charged int, model string, t jobs.Tokens) []counterAdd {
	if n == 0 && charged == 0 {
		return nil
	}
	expires := dayEnd(b.Day).Add(counterKeep)
	out := []counterAdd{{pk: userPK(owner), sk: tokensSK(b.Day), n: n, charged: charged, model: model, tokens: t, expires: expires}}
	if b.Stack {
		out = append(out, counterAdd{pk: stackPK, sk: tokensSK(b.Day), n: n, charged: charged, expires: expires})
	}
	return out
}

func activeCounter(owner string, n int) counterAdd {
	return counterAdd{pk: userPK(owner), sk: activeJobsSK, n: n}
}

// dayEnd is the end of a budget day ("2006-01-02").
func dayEnd(day string) time.Time {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return time.Now().UTC().Add(24 * time.Hour)
	}
	return t.Add(24 * time.Hour)
}

// Reserve holds cost (its tokens: the entries' worst cases; its jobs) for
// owner against today's counters, if every limit of b admits all of it;
// otherwise it returns a *jobs.Error of KindRateLimited naming the limit
// (tokens_per_day, active_jobs, stack_tokens_per_day) and moves nothing.
// The counters are written in one transaction with conditions, so of many
// concurrent submissions only those that fit pass, also on the day's first
// (a missing counter is zero, and a cost bigger than the limit is refused
// before it is tried).
func (s *Store) Reserve(ctx context.Context, owner string, cost jobs.Cost, b jobs.Budgets) (jobs.Reservation, error) {
	now := s.now()
	r := jobs.Reservation{Day: jobs.BudgetDay(now), Tokens: cost.Tokens, Jobs: cost.Jobs, Stack: b.StackTokensPerDay > 0}
	if err := b.RefuseAlone(cost, now); err != nil {
		return jobs.Reservation{}, err
	}
	adds := []counterAdd{{pk: userPK(owner), sk: tokensSK(r.Day), n: cost.Tokens, limit: b.TokensPerDay,
		expires: dayEnd(r.Day).Add(counterKeep)}}
	why := []*jobs.Error{b.Refusal(jobs.LimitTokensPerDay, now)}
	if cost.Jobs > 0 {
		a := activeCounter(owner, cost.Jobs)
		a.limit = b.ActiveJobs
		adds = append(adds, a)
		why = append(why, b.Refusal(jobs.LimitActiveJobs, now))
	}
	if r.Stack {
		adds = append(adds, counterAdd{pk: stackPK, sk: tokensSK(r.Day), n: cost.Tokens, limit: b.StackTokensPerDay,
			expires: dayEnd(r.Day).Add(counterKeep)})
		why = append(why, b.Refusal(jobs.LimitStackTokensPerDay, now))
	}
	items := make([]types.TransactWriteItem, len(adds))
	for i, a := range adds {
		items[i] = types.TransactWriteItem{Update: s.counterUpdate(a)}
	}
	err := s.transact(ctx, items)
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		for i, reason := range canceled.CancellationReasons {
			if i < len(why) && code(reason) == "ConditionalCheckFailed" {
				return jobs.Reservation{}, why[i]
			}
		}
	}
	if err != nil {
		return jobs.Reservation{}, fmt.Errorf("reserve budget: %w", translate(err))
	}
	return r, nil
}

// Unreserve gives back what a reservation held for entries that created no
// job (a replay, a failed write): never more than the counters hold.
func (s *Store) Unreserve(ctx context.Context, owner string, r jobs.Reservation) error {
	var adds []counterAdd
	if r.Tokens > 0 {
		adds = append(adds, s.dayCounters(owner, jobs.Budget{Day: r.Day, Stack: r.Stack}, -r.Tokens, 0, "", jobs.Tokens{})...)
	}
	if r.Jobs > 0 {
		adds = append(adds, activeCounter(owner, -r.Jobs))
	}
	if err := s.moveCounters(ctx, adds); err != nil {
		return fmt.Errorf("unreserve budget: %w", err)
	}
	return nil
}

// UnreserveUnwritten gives back the reservations of js, jobs a submission
// tried to create whose writes reported an error (each job's Budget: its
// tokens on its day, and its place among the owner's active jobs), for
// each job that does not exist. A write reported as failed may have landed
// all the same (DynamoDB applied it and its answer was lost): that job
// holds its reservation and settles it when it ends, and giving it back
// here as well would give it back twice. So each job's absence is checked
// in the transaction that moves the counters: what a job reserved is given
// back at most once, by this or by the job's end. Counters never go below
// zero (a subtraction that would is left out).
func (s *Store) UnreserveUnwritten(ctx context.Context, owner string, js []jobs.Job) error {
	js = slices.DeleteFunc(slices.Clone(js), func(j jobs.Job) bool { return !j.Budget.Counted() })
	for start := 0; start < len(js); start += unwrittenMax {
		if err := s.unreserveUnwritten(ctx, owner, js[start:min(start+unwrittenMax, len(js))]); err != nil {
			return fmt.Errorf("unreserve budget of unwritten jobs: %w", err)
		}
	}
	return nil
}

// unwrittenMax is how many jobs one UnreserveUnwritten transaction checks:
// with the counters they move (a user's and the stack's day, per day, and
// the active jobs) within TransactWriteItems' 100 actions.
const unwrittenMax = 90

func (s *Store) unreserveUnwritten(ctx context.Context, owner string, js []jobs.Job) error {
	floored := map[string]bool{} // counters left out: they hold less than the refund
	for len(js) > 0 {
		var adds []counterAdd
		for _, a := range s.refundCounters(owner, js) {
			if !floored[a.pk+"\x00"+a.sk] {
				adds = append(adds, a)
			}
		}
		items := make([]types.TransactWriteItem, 0, len(js)+len(adds))
		for _, j := range js {
			items = append(items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
				TableName:                aws.String(s.table),
				Key:                      jobKey(owner, j.ID),
				ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
				ExpressionAttributeNames: names("#pk"),
			}})
		}
		for _, a := range adds {
			items = append(items, types.TransactWriteItem{Update: s.counterUpdate(a)})
		}
		err := s.transact(ctx, items)
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) {
			return translateNil(err)
		}
		reasons := canceled.CancellationReasons
		kept := js[:0:0]
		for i, j := range js {
			if !reasonIs(reasons, i, "ConditionalCheckFailed") {
				kept = append(kept, j) // absent: its reservation is still to give back
			}
		}
		dropped := len(kept) < len(js)
		for i, a := range adds {
			if reasonIs(reasons, len(js)+i, "ConditionalCheckFailed") {
				floored[a.pk+"\x00"+a.sk], dropped = true, true
			}
		}
		if !dropped {
			return translate(err)
		}
		js = kept
	}
	return nil
}

// refundCounters are the counters that giving back js's reservations
// moves, one update per counter item.
func (s *Store) refundCounters(owner string, js []jobs.Job) []counterAdd {
	var out []counterAdd
	at := map[string]int{} // pk\x00sk → its index in out
	add := func(a counterAdd) {
		k := a.pk + "\x00" + a.sk
		if i, ok := at[k]; ok {
			out[i].n += a.n
			return
		}
		at[k] = len(out)
		out = append(out, a)
	}
	for _, j := range js {
		for _, a := range s.dayCounters(owner, j.Budget, -j.Budget.Reserved, 0, "", jobs.Tokens{}) {
			add(a)
		}
	}
	add(activeCounter(owner, -len(js)))
	return out
}

// moveCounters adds to counters in one transaction; a counter whose
// subtraction would go below zero (or that is gone) is left out.
func (s *Store) moveCounters(ctx context.Context, adds []counterAdd) error {
	for len(adds) > 0 {
		items := make([]types.TransactWriteItem, len(adds))
		for i, a := range adds {
			items[i] = types.TransactWriteItem{Update: s.counterUpdate(a)}
		}
		err := s.transact(ctx, items)
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) {
			return translateNil(err)
		}
		kept := adds[:0:0]
		for i, a := range adds {
			if !reasonIs(canceled.CancellationReasons, i, "ConditionalCheckFailed") {
				kept = append(kept, a)
			}
		}
		if len(kept) == len(adds) {
			return translate(err)
		}
		adds = kept
	}
	return nil
}

func translateNil(err error) error {
	if err == nil {
		return nil
	}
	return translate(err)
}

// Charge charges the owner's job what its attempt j.Attempts used (every
// call of it: input, output and prompt-cache tokens, which Bedrock all
// bills; times the model's long-context factor in that band:
// jobs.Job.BudgetTokens), on the job's day: exactly once per attempt (a second call for
// the same attempt changes nothing). Cache tokens are part of the prompt,
// so a call's worst case (its reservation) covers them as it covers its
// input. j is the job as claimed; its Budget is the starting guess, read
// again when a concurrent write moved it. A job that was never counted is
// not charged.
func (s *Store) Charge(ctx context.Context, j jobs.Job, t jobs.Tokens) error {
	bt, key := j.BudgetTokens(t)
	u := bt.Total()
	if u <= 0 || !j.Budget.Counted() {
		return nil
	}
	b := j.Budget
	for try := 1; ; try++ {
		if b.ChargedAttempt >= j.Attempts {
			return nil
		}
		nb, dn := b.Charge(j.Attempts, bt)
		c := change{cond: "attribute_exists(#pk)", update: "SET #charged_attempt = :attempt", values: map[string]types.AttributeValue{
			":attempt": num(int64(j.Attempts)),
		}}
		guardBudget(&c, b)
		c.update = addSet(c.update, "#charged = :charged_now")
		c.values[":charged_now"] = num(int64(nb.Charged))
		setChargedTokens(&c, nb)
		c.cond = "(attribute_not_exists(#charged_attempt) OR #charged_attempt < :attempt) AND " + c.cond
		up, err := s.jobUpdate(j.Owner, j.ID, c)
		if err != nil {
			return err
		}
		items := []types.TransactWriteItem{{Update: up}}
		for _, a := range s.dayCounters(j.Owner, b, dn, u, key.String(), t) {
			items = append(items, types.TransactWriteItem{Update: s.counterUpdate(a)})
		}
		err = s.transact(ctx, items)
		var canceled *types.TransactionCanceledException
		switch {
		case err == nil:
			return nil
		case errors.As(err, &canceled) && reasonIs(canceled.CancellationReasons, 0, "ConditionalCheckFailed") && try < transactAttempts:
			// Another charge or a settlement moved the job's budget since
			// it was read: read it and try again.
			it, gerr := s.getItem(ctx, j.Owner, j.ID)
			if gerr != nil {
				return fmt.Errorf("charge job %s attempt %d: %w", j.ID, j.Attempts, gerr)
			}
			cur, gerr := it.job()
			if gerr != nil {
				return gerr
			}
			b = cur.Budget
		default:
			return fmt.Errorf("charge job %s attempt %d: %w", j.ID, j.Attempts, translate(err))
		}
	}
}

// setChargedTokens adds to c the job's charge by kind after a charge (nb),
// set from what was read as the total is: c's condition holds both to it.
func setChargedTokens(c *change, nb jobs.Budget) {
	c.update = addSet(c.update, "#charged_in = :charged_in, #charged_out = :charged_out, "+
		"#charged_cache_read = :charged_cr, #charged_cache_write = :charged_cw")
	c.values[":charged_in"] = num(int64(nb.ChargedTokens.Input))
	c.values[":charged_out"] = num(int64(nb.ChargedTokens.Output))
	c.values[":charged_cr"] = num(int64(nb.ChargedTokens.CacheRead))
	c.values[":charged_cw"] = num(int64(nb.ChargedTokens.CacheWrite))
}

// guardBudget makes c's condition require the job's budget to be b as read
// (its charge and whether it is settled), so that counters moved by what
// was computed from b are moved once.
func guardBudget(c *change, b jobs.Budget) {
	if c.values == nil {
		c.values = map[string]types.AttributeValue{}
	}
	cond := "#charged = :charged_was"
	if b.Charged == 0 {
		cond = "(attribute_not_exists(#charged) OR #charged = :charged_was)"
	}
	c.values[":charged_was"] = num(int64(b.Charged))
	if b.Settled {
		cond += " AND #settled = :true"
		c.values[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	} else {
		cond += " AND attribute_not_exists(#settled)"
	}
	c.cond = "(" + c.cond + ") AND " + cond
}

// jobUpdate is c on the job as a transaction's Update.
func (s *Store) jobUpdate(owner, id string, c change) (*types.Update, error) {
	in, err := c.updateInput(s.table, owner, id)
	if err != nil {
		return nil, err
	}
	return &types.Update{
		TableName: in.TableName, Key: in.Key,
		UpdateExpression: in.UpdateExpression, ConditionExpression: in.ConditionExpression,
		ExpressionAttributeNames: in.ExpressionAttributeNames, ExpressionAttributeValues: in.ExpressionAttributeValues,
	}, nil
}

// transact writes items in one transaction, trying again with a jittered
// backoff when it lost to a concurrent transaction on one of its items
// (TransactionConflict): many submissions of one user at once all write
// the user's counters.
func (s *Store) transact(ctx context.Context, items []types.TransactWriteItem) error {
	for attempt := 1; ; attempt++ {
		_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		var canceled *types.TransactionCanceledException
		if err == nil || !errors.As(err, &canceled) || attempt == transactAttempts {
			return err
		}
		conflict, failed := false, false
		for _, r := range canceled.CancellationReasons {
			switch code(r) {
			case "TransactionConflict":
				conflict = true
			case "ConditionalCheckFailed":
				failed = true
			}
		}
		if !conflict || failed {
			return err
		}
		d := time.Duration(10*attempt+rand.IntN(10*attempt)) * time.Millisecond
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
}

// Usage reads the owner's counters for today: tokens committed and
// charged (by model) and jobs active.
func (s *Store) Usage(ctx context.Context, owner string) (jobs.Usage, error) {
	u := jobs.Usage{Day: jobs.BudgetDay(s.now()), ByModel: map[string]jobs.Tokens{}}
	got, err := s.batchGet(ctx, []map[string]types.AttributeValue{
		keyOf(userPK(owner), tokensSK(u.Day)),
		keyOf(userPK(owner), activeJobsSK),
	})
	if err != nil {
		return jobs.Usage{}, fmt.Errorf("read usage: %w", err)
	}
	for _, av := range got {
		sk, _ := av[attrSK].(*types.AttributeValueMemberS)
		if sk == nil {
			continue
		}
		if sk.Value == activeJobsSK {
			u.Active = intAttr(av["n"])
			continue
		}
		u.Committed, u.Charged = intAttr(av["n"]), intAttr(av["charged"])
		for name, v := range av {
			for _, kind := range modelCounters {
				if m, ok := strings.CutPrefix(name, kind.prefix); ok {
					t := u.ByModel[m]
					*kind.field(&t) = intAttr(v)
					u.ByModel[m] = t
				}
			}
		}
	}
	return u, nil
}

// modelCounters are the attributes of a day's counter that count its
// tokens by model and kind: "in:<model>", "out:<model>", "cr:<model>"
// (read from the prompt cache), "cw:<model>" (written to it).
var modelCounters = []struct {
	prefix string
	field  func(*jobs.Tokens) *int
}{
	{"in:", func(t *jobs.Tokens) *int { return &t.Input }},
	{"out:", func(t *jobs.Tokens) *int { return &t.Output }},
	{"cr:", func(t *jobs.Tokens) *int { return &t.CacheRead }},
	{"cw:", func(t *jobs.Tokens) *int { return &t.CacheWrite }},
}

func intAttr(v types.AttributeValue) int {
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	i, _ := strconv.Atoi(n.Value)
	return i
}
