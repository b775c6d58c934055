package inmem

import (
	"context"

	"github.com/promptq/promptq/internal/jobs"
)

// The budget counters, as internal/dynamo keeps them (its budget.go):
// per user and day the tokens committed (n) and charged, by model; per
// user the jobs active; per day the stack's tokens. They move under s.mu
// with the job's budget, so each reservation, charge and release happens
// once, and a subtraction that would go below zero is left out.
type dayKey struct{ owner, day string } // owner "" is the stack's counter

type dayCounter struct {
	n, charged int
	byModel    map[string]jobs.Tokens
}

// counters are created by NewStore's zero maps lazily.
func (s *Store) day(owner, day string) *dayCounter {
	if s.days == nil {
		s.days = map[dayKey]*dayCounter{}
	}
	k := dayKey{owner, day}
	c := s.days[k]
	if c == nil {
		c = &dayCounter{byModel: map[string]jobs.Tokens{}}
		s.days[k] = c
	}
	return c
}

func (s *Store) activeCount(owner string) *int {
	if s.active == nil {
		s.active = map[string]*int{}
	}
	n := s.active[owner]
	if n == nil {
		n = new(int)
		s.active[owner] = n
	}
	return n
}

// moveDay adds n to the job's day counters (the stack's too, when the job
// is counted there) and charged tokens t of model; never below zero.
func (s *Store) moveDay(owner string, b jobs.Budget, n, u int, model string, t jobs.Tokens) {
	owners := []string{owner}
	if b.Stack {
		owners = append(owners, "")
	}
	for _, o := range owners {
		c := s.day(o, b.Day)
		if c.n+n < 0 {
			continue
		}
		c.n += n
		c.charged += u
		if o != "" && model != "" && u > 0 {
			c.byModel[model] = c.byModel[model].Plus(t)
		}
	}
}

func (s *Store) moveActive(owner string, n int) {
	a := s.activeCount(owner)
	if *a+n >= 0 {
		*a += n
	}
}

// Reserve holds cost for owner on today's counters if every limit of b
// admits it (see dynamo.Store.Reserve).
func (s *Store) Reserve(_ context.Context, owner string, cost jobs.Cost, b jobs.Budgets) (jobs.Reservation, error) {
	now := s.now()
	if err := b.RefuseAlone(cost, now); err != nil {
		return jobs.Reservation{}, err
	}
	r := jobs.Reservation{Day: jobs.BudgetDay(now), Tokens: cost.Tokens, Jobs: cost.Jobs, Stack: b.StackTokensPerDay > 0}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case b.TokensPerDay > 0 && s.day(owner, r.Day).n+cost.Tokens > b.TokensPerDay:
		return jobs.Reservation{}, b.Refusal(jobs.LimitTokensPerDay, now)
	case b.ActiveJobs > 0 && *s.activeCount(owner)+cost.Jobs > b.ActiveJobs:
		return jobs.Reservation{}, b.Refusal(jobs.LimitActiveJobs, now)
	case r.Stack && s.day("", r.Day).n+cost.Tokens > b.StackTokensPerDay:
		return jobs.Reservation{}, b.Refusal(jobs.LimitStackTokensPerDay, now)
	}
	s.moveDay(owner, jobs.Budget{Day: r.Day, Stack: r.Stack}, cost.Tokens, 0, "", jobs.Tokens{})
	s.moveActive(owner, cost.Jobs)
	return r, nil
}

// Unreserve gives back what a reservation held for entries that created no
// job.
func (s *Store) Unreserve(_ context.Context, owner string, r jobs.Reservation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.moveDay(owner, jobs.Budget{Day: r.Day, Stack: r.Stack}, -r.Tokens, 0, "", jobs.Tokens{})
	s.moveActive(owner, -r.Jobs)
	return nil
}

// UnreserveUnwritten gives back the reservations of js, jobs whose writes
// were reported failed, for each one the store does not hold (see
// dynamo.Store.UnreserveUnwritten).
func (s *Store) UnreserveUnwritten(_ context.Context, owner string, js []jobs.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range js {
		if _, held := s.jobs[owner][j.ID]; held || !j.Budget.Counted() {
			continue
		}
		s.moveDay(owner, j.Budget, -j.Budget.Reserved, 0, "", jobs.Tokens{})
		s.moveActive(owner, -1)
	}
	return nil
}

// Charge charges the job what its attempt j.Attempts used, once per
// attempt (see dynamo.Store.Charge).
func (s *Store) Charge(_ context.Context, j jobs.Job, t jobs.Tokens) error {
	bt, key := j.BudgetTokens(t)
	u := bt.Total()
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.jobs[j.Owner][j.ID]
	if !ok {
		return jobs.ErrNotFound
	}
	if u > 0 {
		s.chargeLocked(&cur, j.Attempts, bt, key, t)
		s.jobs[j.Owner][j.ID] = cur
	}
	return nil
}

// chargeLocked charges the job j attempt's tokens t, which count bt
// against the budget (jobs.Job.BudgetTokens) under key, once per attempt;
// s.mu is held. Finish charges its attempt so, before its settlement, as
// dynamo's does in one transaction.
func (s *Store) chargeLocked(j *jobs.Job, attempt int, bt jobs.Tokens, key jobs.UsageKey, t jobs.Tokens) {
	b := j.Budget
	if !b.Counted() || b.ChargedAttempt >= attempt {
		return
	}
	nb, dn := b.Charge(attempt, bt)
	j.Budget = nb
	s.moveDay(j.Owner, b, dn, bt.Total(), key.String(), t)
}

// Usage reads the owner's counters for today.
func (s *Store) Usage(_ context.Context, owner string) (jobs.Usage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := jobs.Usage{Day: jobs.BudgetDay(s.now()), ByModel: map[string]jobs.Tokens{}}
	c := s.day(owner, u.Day)
	u.Committed, u.Charged = c.n, c.charged
	for m, t := range c.byModel {
		u.ByModel[m] = t
	}
	u.Active = *s.activeCount(owner)
	return u, nil
}

// settle moves the budget of a job whose status changed from was to j's:
// ending a counted job (settles: its rule's jobs.Rule.Settles, as the job
// was) releases what is left of its reservation and its active place;
// queuing an ended one again holds them again. s.mu is held.
func (s *Store) settle(was jobs.Status, settles bool, j *jobs.Job) {
	b := j.Budget
	if !b.Counted() {
		return
	}
	switch {
	case settles:
		nb, dn := b.Settle()
		j.Budget = nb
		s.moveDay(j.Owner, b, dn, 0, "", jobs.Tokens{})
		s.moveActive(j.Owner, -1)
	case was.Terminal() && !j.Status.Terminal() && b.Settled:
		nb, dn := b.Reopen()
		j.Budget = nb
		s.moveDay(j.Owner, b, dn, 0, "", jobs.Tokens{})
		s.moveActive(j.Owner, 1)
	}
}
