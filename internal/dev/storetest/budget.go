package storetest

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// usage reads the env owner's usage and fails the test on an error.
func (e *env) usage() jobs.Usage {
	e.t.Helper()
	u, err := e.store.Usage(e.t.Context(), e.owner)
	if err != nil {
		e.t.Fatalf("Usage: %v", err)
	}
	return u
}

// wantUsage checks the owner's committed and charged tokens and active
// jobs.
func (e *env) wantUsage(what string, committed, charged, active int) {
	e.t.Helper()
	u := e.usage()
	if u.Committed != committed || u.Charged != charged || u.Active != active {
		e.t.Errorf("%s: usage committed %d, charged %d, active %d; want %d, %d, %d",
			what, u.Committed, u.Charged, u.Active, committed, charged, active)
	}
}

// reserved reserves tokens for one job, as a submission does, and stores
// the job with what it reserved.
func (e *env) reserved(tokens int) jobs.Job {
	e.t.Helper()
	r, err := e.store.Reserve(e.t.Context(), e.owner, jobs.Cost{Jobs: 1, Tokens: tokens}, jobs.Budgets{})
	if err != nil {
		e.t.Fatalf("Reserve: %v", err)
	}
	j := e.job()
	j.Budget = jobs.Budget{Day: r.Day, Reserved: tokens}
	return e.create(j, "fp")
}

func (e *env) charge(j jobs.Job, in, out int) {
	e.t.Helper()
	if err := e.store.Charge(e.t.Context(), j, jobs.Tokens{Input: in, Output: out}); err != nil {
		e.t.Fatalf("Charge(%s attempt %d): %v", j.ID, j.Attempts, err)
	}
}

func refusedFor(t *testing.T, err error, field string) {
	t.Helper()
	var je *jobs.Error
	if !errors.As(err, &je) || je.Kind != jobs.KindRateLimited || je.Field != field || je.RetryAfterSeconds < 1 {
		t.Fatalf("error = %v, want rate_limited naming %s with a Retry-After", err, field)
	}
}

// Of many reservations at once, exactly those that fit pass: neither the
// daily tokens nor the active jobs overshoot by one.
func testReserveUnderConcurrency(t *testing.T, newStore NewStore) {
	for _, tt := range []struct {
		name    string
		budgets jobs.Budgets
		field   string
		want    int
	}{
		{"tokens", jobs.Budgets{TokensPerDay: 1000, ActiveJobs: 1000}, jobs.LimitTokensPerDay, 10},
		{"active jobs", jobs.Budgets{TokensPerDay: 1_000_000, ActiveJobs: 7}, jobs.LimitActiveJobs, 7},
		{"the stack's tokens", jobs.Budgets{StackTokensPerDay: 1000}, jobs.LimitStackTokensPerDay, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, newStore)
			var ok atomic.Int64
			var wg sync.WaitGroup
			for range 60 {
				wg.Go(func() {
					_, err := e.store.Reserve(t.Context(), e.owner, jobs.Cost{Jobs: 1, Tokens: 100}, tt.budgets)
					if err == nil {
						ok.Add(1)
						return
					}
					var je *jobs.Error
					if !errors.As(err, &je) || je.Field != tt.field {
						t.Errorf("Reserve: %v, want a refusal naming %s", err, tt.field)
					}
				})
			}
			wg.Wait()
			if n := int(ok.Load()); n != tt.want {
				t.Errorf("%d of 60 reservations passed, want exactly %d", n, tt.want)
			}
			e.wantUsage("after the reservations", tt.want*100, 0, tt.want)
		})
	}
}

// A reservation bigger than a limit by itself is refused, also as the
// day's first (when no counter exists yet), and moves nothing.
func testReserveTheDaysFirst(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	_, err := e.store.Reserve(t.Context(), e.owner, jobs.Cost{Jobs: 1, Tokens: 2001}, jobs.Budgets{TokensPerDay: 2000})
	refusedFor(t, err, jobs.LimitTokensPerDay)
	_, err = e.store.Reserve(t.Context(), e.owner, jobs.Cost{Jobs: 101, Tokens: 1}, jobs.Budgets{ActiveJobs: 100})
	refusedFor(t, err, jobs.LimitActiveJobs)
	e.wantUsage("after refusals", 0, 0, 0)
	if _, err := e.store.Reserve(t.Context(), e.owner, jobs.Cost{Jobs: 100, Tokens: 2000}, jobs.Budgets{TokensPerDay: 2000, ActiveJobs: 100}); err != nil {
		t.Fatalf("a reservation of exactly the budget: %v", err)
	}
	_, err = e.store.Reserve(t.Context(), e.owner, jobs.Cost{Jobs: 1, Tokens: 1}, jobs.Budgets{TokensPerDay: 2000})
	refusedFor(t, err, jobs.LimitTokensPerDay)
	e.wantUsage("at the budget", 2000, 0, 100)
}

// Unreserve gives back what it is told, and never takes a counter below
// zero.
func testUnreserve(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	r, err := e.store.Reserve(t.Context(), e.owner, jobs.Cost{Jobs: 3, Tokens: 300}, jobs.Budgets{TokensPerDay: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Unreserve(t.Context(), e.owner, jobs.Reservation{Day: r.Day, Tokens: 200, Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	e.wantUsage("after giving two back", 100, 0, 1)
	_ = e.store.Unreserve(t.Context(), e.owner, jobs.Reservation{Day: r.Day, Tokens: 500, Jobs: 5})
	if u := e.usage(); u.Committed < 0 || u.Active < 0 {
		t.Errorf("a counter went below zero: %+v", u)
	}
}

// A submission whose writes were reported failed gives back the
// reservation of each job the store does not hold, and only of those: a
// write that landed though it answered an error (its answer lost) made a
// job that holds its reservation and gives it back when it ends. Given
// back by both, it would count twice, handing its owner tokens and places
// for nothing.
func testUnreserveUnwritten(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	e.reserved(50) // another job of the owner's, queued: it holds its 50 throughout
	r, err := e.store.Reserve(ctx, e.owner, jobs.Cost{Jobs: 3, Tokens: 600}, jobs.Budgets{TokensPerDay: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	var tried []jobs.Job
	for _, tokens := range []int{100, 200, 300} {
		j := e.job()
		j.Budget = jobs.Budget{Day: r.Day, Reserved: tokens}
		tried = append(tried, j)
	}
	landed := e.create(tried[1], "fp") // its write landed; the others' did not
	e.wantUsage("reserved", 650, 0, 4)
	if err := e.store.UnreserveUnwritten(ctx, e.owner, tried); err != nil {
		t.Fatalf("UnreserveUnwritten: %v", err)
	}
	e.wantUsage("the unwritten jobs' reservations given back", 250, 0, 2)
	if _, err := e.store.Cancel(ctx, e.owner, landed.ID); err != nil {
		t.Fatal(err)
	}
	e.wantUsage("the landed job ended: its reservation given back by its end", 50, 0, 1)
}

// Each attempt is charged once, what it used; the job's end releases
// what is left of its reservation, once; the settled charge is the sum
// of its attempts.
func testChargeAndSettle(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	j := e.reserved(500)
	e.wantUsage("reserved", 500, 0, 1)

	a1 := e.claim(j.ID)
	e.charge(a1, 60, 40)
	e.charge(a1, 60, 40) // the same attempt again: nothing more
	e.wantUsage("first attempt charged", 500, 100, 1)
	if err := e.store.Release(ctx, e.owner, j.ID, a1.Attempts, jobs.Wait{}); err != nil {
		t.Fatal(err)
	}
	a2 := e.claim(j.ID)
	e.charge(a2, 100, 200)
	e.wantUsage("second attempt charged", 500, 400, 1)
	if err := e.store.Finish(ctx, e.owner, j.ID, a2.Attempts, jobs.Progress{Tokens: jobs.Tokens{Input: 100, Output: 200}}); err != nil {
		t.Fatal(err)
	}
	e.wantUsage("finished", 400, 400, 0)
	if b := e.get(j.ID).Budget; b.Charged != 400 || !b.Settled || b.ChargedAttempt != a2.Attempts ||
		b.ChargedTokens != (jobs.Tokens{Input: 160, Output: 240}) {
		t.Errorf("job's budget = %+v, want 400 charged over both attempts (160 in, 240 out), settled", b)
	}
	e.charge(a1, 1, 1) // a late charge of an attempt already charged
	if _, err := e.store.Cancel(ctx, e.owner, j.ID); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("Cancel of a finished job: %v", err)
	}
	e.wantUsage("after a late charge and a refused cancel", 400, 400, 0)
	u := e.usage()
	if m := u.ByModel[jobs.DefaultModel]; m != (jobs.Tokens{Input: 160, Output: 240}) {
		t.Errorf("by model = %+v, want %s: 160 in, 240 out", u.ByModel, jobs.DefaultModel)
	}
}

// Finish charges its attempt what jobs.Progress.Charge says with the
// settlement, however its text is written (appended, or with chunks in
// its transaction), once: not again when the attempt was charged before,
// nor by a Charge after; beyond the reservation too. A Finish that loses
// to a cancel charges nothing, and the worker's Charge then does.
func testFinishCharges(t *testing.T, newStore NewStore) {
	used := jobs.Tokens{Input: 100, Output: 200, CacheRead: 30}
	long := strings.Repeat("long answer ", 400)
	for _, tt := range []struct {
		name          string
		reserve       int
		chargedBefore bool // the worker's Charge of the same attempt came first
		progress      func(e *env, j jobs.Job) jobs.Progress
		committed     int
	}{
		{"text appended to what its progress wrote", 500, false, func(e *env, j jobs.Job) jobs.Progress {
			if err := e.store.SaveProgress(e.t.Context(), e.owner, j.ID, j.Attempts, jobs.Progress{GeneratedText: long[:1000]}, time.Minute); err != nil {
				e.t.Fatal(err)
			}
			return jobs.Progress{GeneratedText: long, Saved: 1000, Appended: true}
		}, 330},
		{"text written with the change", 500, false, func(*env, jobs.Job) jobs.Progress {
			return jobs.Progress{GeneratedText: long}
		}, 330},
		{"no text", 500, false, func(*env, jobs.Job) jobs.Progress { return jobs.Progress{} }, 330},
		{"beyond the reservation", 100, false, func(*env, jobs.Job) jobs.Progress {
			return jobs.Progress{GeneratedText: "an answer"}
		}, 330},
		{"the attempt charged already", 500, true, func(*env, jobs.Job) jobs.Progress {
			return jobs.Progress{GeneratedText: "an answer"}
		}, 330},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, newStore)
			j := e.reserved(tt.reserve)
			a := e.claim(j.ID)
			if tt.chargedBefore {
				e.charge(a, used.Input, used.Output+used.CacheRead)
			}
			p := tt.progress(e, a)
			p.Tokens, p.Charge = used, used
			if err := e.store.Finish(t.Context(), e.owner, j.ID, a.Attempts, p); err != nil {
				t.Fatalf("Finish: %v", err)
			}
			e.wantUsage("finished", tt.committed, 330, 0)
			got := e.get(j.ID)
			if b := got.Budget; b.Charged != 330 || b.ChargedAttempt != a.Attempts || !b.Settled {
				t.Errorf("job's budget = %+v, want 330 charged to attempt %d, settled", b, a.Attempts)
			}
			// By kind too, as the job shows it (GET /jobs/{id}'s charged).
			if !tt.chargedBefore && got.Budget.ChargedTokens != used {
				t.Errorf("job's charge by kind = %+v, want %+v", got.Budget.ChargedTokens, used)
			}
			if got.Status != jobs.StatusSucceeded || got.GeneratedText != p.GeneratedText {
				t.Errorf("job %s with %d bytes of text, want succeeded with %d", got.Status, len(got.GeneratedText), len(p.GeneratedText))
			}
			e.charge(a, 1, 1) // the same attempt again: nothing more
			e.wantUsage("charged again", tt.committed, 330, 0)
			if m := e.usage().ByModel[jobs.DefaultModel]; !tt.chargedBefore && m != used {
				t.Errorf("by model = %+v, want %+v", m, used)
			}
		})
	}
	t.Run("lost to a cancel", func(t *testing.T) {
		e := setup(t, newStore)
		j := e.reserved(500)
		a := e.claim(j.ID)
		if _, err := e.store.Cancel(t.Context(), e.owner, j.ID); err != nil {
			t.Fatal(err)
		}
		err := e.store.Finish(t.Context(), e.owner, j.ID, a.Attempts, jobs.Progress{GeneratedText: "late", Tokens: used, Charge: used})
		if !errors.Is(err, jobs.ErrConflict) {
			t.Fatalf("Finish of a cancelled job: %v, want a conflict", err)
		}
		e.wantUsage("cancelled, the attempt not charged by the refused Finish", 0, 0, 0)
		e.charge(a, used.Input, used.Output+used.CacheRead)
		e.wantUsage("charged by the worker's Charge after it", 330, 330, 0)
	})
	t.Run("a job without a budget", func(t *testing.T) {
		e := setup(t, newStore)
		plain := e.create(e.job(), "fp")
		a := e.claim(plain.ID)
		if err := e.store.Finish(t.Context(), e.owner, plain.ID, a.Attempts, jobs.Progress{Tokens: used, Charge: used}); err != nil {
			t.Fatal(err)
		}
		e.wantUsage("a job without a budget", 0, 0, 0)
	})
}

// Prompt-cache tokens are billed, so they are charged with the rest and
// counted by model apart from the plain input.
func testChargeCountsCacheTokens(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	j := e.reserved(5000)
	used := jobs.Tokens{Input: 30, Output: 200, CacheRead: 4096, CacheWrite: 10}
	if err := e.store.Charge(t.Context(), e.claim(j.ID), used); err != nil {
		t.Fatal(err)
	}
	e.wantUsage("charged", 5000, used.Total(), 1)
	if m := e.usage().ByModel[jobs.DefaultModel]; m != used {
		t.Errorf("by model = %+v, want %+v", m, used)
	}
	// The job says what it was charged, by kind, as the day does.
	if b := e.get(j.ID).Budget; b.Charged != used.Total() || b.ChargedTokens != used {
		t.Errorf("the job's charge: %d, %+v; want %d, %+v", b.Charged, b.ChargedTokens, used.Total(), used)
	}
}

// A call whose prompt passed its model's long-context band (Claude Haiku
// 5.5's 100,000 tokens) is billed at 5x, so it counts 5x against the
// budget, and its tokens go under the model's long-context usage apart.
func testALongContextCallCountsItsBand(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	r, err := e.store.Reserve(t.Context(), e.owner, jobs.Cost{Jobs: 1, Tokens: 1_000_000}, jobs.Budgets{})
	if err != nil {
		t.Fatal(err)
	}
	j := e.job()
	j.Model = "us.anthropic.claude-haiku-5-5"
	j.Budget = jobs.Budget{Day: r.Day, Reserved: 1_000_000}
	j = e.create(j, "fp")
	long := jobs.Tokens{Input: 90_000, Output: 500, CacheRead: 20_000}
	if err := e.store.Charge(t.Context(), e.claim(j.ID), long); err != nil {
		t.Fatal(err)
	}
	e.wantUsage("charged in the long band", 1_000_000, 5*long.Total(), 1)
	u := e.usage()
	key := jobs.UsageKey{Model: j.Model, Long: true}.String()
	if m := u.ByModel[key]; m != long || len(u.ByModel) != 1 {
		t.Errorf("by model = %+v, want %+v under %s", u.ByModel, long, key)
	}
	// The job's charge by kind counts its band too, so its tokens at the
	// model's base prices cost what the day's long-context row does.
	if b := e.get(j.ID).Budget; b.Charged != 5*long.Total() || b.ChargedTokens != long.Times(5) {
		t.Errorf("the job's charge: %d, %+v; want %d, %+v", b.Charged, b.ChargedTokens, 5*long.Total(), long.Times(5))
	}
}

// A job that uses more than it reserved is charged all of it, and its end
// releases nothing more; a charge after the job ended (its worker learns
// of a cancel) adds exactly what it used.
func testChargeBeyondTheReservation(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	j := e.reserved(100)
	a := e.claim(j.ID)
	e.charge(a, 50, 100)
	e.wantUsage("charged beyond", 150, 150, 1)
	if err := e.store.Fail(ctx, e.owner, j.ID, a.Attempts, jobs.Failure{Code: jobs.FailureModel, Message: "no"}); err != nil {
		t.Fatal(err)
	}
	e.wantUsage("failed", 150, 150, 0)

	k := e.reserved(300)
	b := e.claim(k.ID)
	if _, err := e.store.Cancel(ctx, e.owner, k.ID); err != nil {
		t.Fatal(err)
	}
	e.wantUsage("cancelled while running", 150, 150, 0)
	e.charge(b, 20, 30)
	e.wantUsage("charged after the cancel", 200, 200, 0)
}

// Whatever ends a job releases its reservation and its place exactly
// once; an operator's replay holds them again.
func testEveryEndSettlesOnce(t *testing.T, newStore NewStore) {
	ends := map[string]func(e *env, j jobs.Job) error{
		"cancel queued": func(e *env, j jobs.Job) error { _, err := e.store.Cancel(e.t.Context(), e.owner, j.ID); return err },
		"cancel running": func(e *env, j jobs.Job) error {
			e.claim(j.ID)
			_, err := e.store.Cancel(e.t.Context(), e.owner, j.ID)
			return err
		},
		"fail": func(e *env, j jobs.Job) error {
			c := e.claim(j.ID)
			return e.store.Fail(e.t.Context(), e.owner, j.ID, c.Attempts, jobs.Failure{Code: jobs.FailureModel, Message: "no"})
		},
		// Finishing with text writes the text's chunks with the change in
		// one transaction (dynamo): the settlement must go with them.
		"finish with text": func(e *env, j jobs.Job) error {
			c := e.claim(j.ID)
			return e.store.Finish(e.t.Context(), e.owner, j.ID, c.Attempts, jobs.Progress{GeneratedText: "an answer"})
		},
		"finish with progress saved before": func(e *env, j jobs.Job) error {
			c := e.claim(j.ID)
			text := strings.Repeat("long answer ", 2000)
			p := jobs.Progress{GeneratedText: text[:10000]}
			if err := e.store.SaveProgress(e.t.Context(), e.owner, j.ID, c.Attempts, p, time.Minute); err != nil {
				return err
			}
			return e.store.Finish(e.t.Context(), e.owner, j.ID, c.Attempts, jobs.Progress{GeneratedText: text, Saved: len(p.GeneratedText)})
		},
		"abandon enqueue": func(e *env, j jobs.Job) error {
			return e.store.AbandonEnqueue(e.t.Context(), e.owner, j.ID, jobs.Failure{Code: jobs.FailureEnqueue, Message: "no"})
		},
		"mark failed (dead-letter purge)": func(e *env, j jobs.Job) error {
			return e.store.MarkFailed(e.t.Context(), e.owner, j.ID, jobs.Failure{Code: jobs.FailurePurged, Message: "no"})
		},
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			e := setup(t, newStore)
			j := e.reserved(250)
			keyed := e.job()
			keyed.IdempotencyKey = "k"
			r, err := e.store.Reserve(t.Context(), e.owner, jobs.Cost{Jobs: 1, Tokens: 50}, jobs.Budgets{})
			if err != nil {
				t.Fatal(err)
			}
			keyed.Budget = jobs.Budget{Day: r.Day, Reserved: 50}
			keyed = e.create(keyed, "fp")
			e.wantUsage("reserved", 300, 0, 2)
			for _, x := range []jobs.Job{j, keyed} {
				if err := end(e, x); err != nil {
					t.Fatalf("end %s: %v", x.ID, err)
				}
			}
			e.wantUsage("ended", 0, 0, 0)
			// Ending it again (where the store allows that) moves nothing.
			_ = e.store.MarkFailed(t.Context(), e.owner, j.ID, jobs.Failure{Code: jobs.FailurePurged, Message: "again"})
			_, _ = e.store.Cancel(t.Context(), e.owner, j.ID)
			e.wantUsage("ended again", 0, 0, 0)
			if e.get(j.ID).Status == jobs.StatusFailed {
				if _, err := e.store.Requeue(t.Context(), e.owner, j.ID); err != nil {
					t.Fatal(err)
				}
				e.wantUsage("replayed", 250, 0, 1)
				if err := e.store.MarkFailed(t.Context(), e.owner, j.ID, jobs.Failure{Code: jobs.FailurePurged, Message: "no"}); err != nil {
					t.Fatal(err)
				}
				e.wantUsage("failed again", 0, 0, 0)
			}
		})
	}
}

// One user's reservations and charges are never in another's usage, and a
// job without a budget (from before budgets) moves no counter.
func testUsageIsPerUser(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	j := e.reserved(100)
	e.charge(e.claim(j.ID), 10, 10)
	other := &env{t: t, store: e.store, clock: e.clock, owner: randomOwner()}
	other.wantUsage("another user", 0, 0, 0)
	if u := other.usage(); len(u.ByModel) != 0 {
		t.Errorf("another user sees %+v", u.ByModel)
	}
	plain := other.create(other.job(), "fp")
	c := other.claim(plain.ID)
	other.charge(c, 5, 5)
	if err := other.store.Finish(t.Context(), other.owner, plain.ID, c.Attempts, jobs.Progress{}); err != nil {
		t.Fatal(err)
	}
	other.wantUsage("a job without a budget", 0, 0, 0)
	e.wantUsage("the first user", 100, 20, 1)
}
