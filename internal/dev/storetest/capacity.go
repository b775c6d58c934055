package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
)

// Capacity is the method set of a model's seats that the worker uses:
// internal/dynamo.Capacity, and internal/dev/inmem.Capacity in memory.
type Capacity interface {
	Seats(ctx context.Context, model string, n int) ([]quota.Seat, error)
	Take(ctx context.Context, model string, s quota.Seat, h quota.Holder) error
	AskBack(ctx context.Context, model string, s quota.Seat, job string) error
	Renew(ctx context.Context, model string, index int, job string, until time.Time) error
	Release(ctx context.Context, model string, index int, job string) error
	AskedBack(ctx context.Context, model string, index int, job string) (bool, error)
}

// NewCapacity makes empty seats for one test, whose clock is now.
type NewCapacity func(t *testing.T, now func() time.Time) Capacity

// RunCapacity runs the seats' suite against the capacities newCapacity
// makes. Which seat a job may take is quota.Quota.Choose's rule, which the
// suite follows as the worker does: what it holds the capacity to is that
// the seats keep that rule's promises under concurrency and over time.
func RunCapacity(t *testing.T, newCapacity NewCapacity) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, NewCapacity)
	}{
		{"AFreeSeatIsTakenOnce", testSeatTakenOnce},
		{"NeverMoreHoldersThanSeatsUnderConcurrency", testSeatsUnderConcurrency},
		{"ALeaseThatLapsedFreesTheSeat", testSeatLeaseLapses},
		{"ASeatAskedBackIsTakenByTheJobThatAsked", testSeatAskedBack},
		{"AReservationEnds", testSeatReservationEnds},
		{"ADisplacedJobIsNeverAskedAgain", testSeatDisplaced},
		{"ASeatBorrowedPastAShareIsAskedBackByAnotherOwner", testSeatPastShare},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newCapacity)
		})
	}
}

// seatsQuota is 4 seats: 0 and 1 the bulk lane's own, 2 and 3 the
// interactive lane's reserve.
var seatsQuota = quota.Quota{Concurrency: 4, InteractiveShare: 0.25}

const seatModel = "m"

// seated is a capacity, its clock, and helpers that act as workers do.
type seated struct {
	t     *testing.T
	c     Capacity
	clock *Clock
}

func newSeated(t *testing.T, newCapacity NewCapacity) *seated {
	clock := NewClock(time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC))
	return &seated{t: t, c: newCapacity(t, clock.Now), clock: clock}
}

func (s *seated) seats() []quota.Seat {
	s.t.Helper()
	seats, err := s.c.Seats(s.t.Context(), seatModel, seatsQuota.Concurrency)
	if err != nil {
		s.t.Fatalf("Seats: %v", err)
	}
	return seats
}

// asker is job of lane, owned by o-<job>.
func asker(job string, lane jobs.Lane, displaced bool) quota.Asker {
	return quota.Asker{Job: job, Owner: "o-" + job, Lane: lane, Displaced: displaced}
}

// choose reads the seats and says what job may do.
func (s *seated) choose(job string, lane jobs.Lane, displaced bool) quota.Choice {
	s.t.Helper()
	return seatsQuota.Choose(s.seats(), asker(job, lane, displaced), s.clock.Now())
}

// take has job take the seat Choose gives it, and fails the test if it
// gives none.
func (s *seated) take(job string, lane jobs.Lane, displaced bool) int {
	s.t.Helper()
	return s.takeAs(asker(job, lane, displaced))
}

// takeAs has a take the seat Choose gives it, and fails the test if it
// gives none.
func (s *seated) takeAs(a quota.Asker) int {
	s.t.Helper()
	c := seatsQuota.Choose(s.seats(), a, s.clock.Now())
	if c.Action != quota.Take {
		s.t.Fatalf("%s job %s: %s, want a seat to take", a.Lane, a.Job, c.Action)
	}
	now := s.clock.Now()
	if err := s.c.Take(s.t.Context(), seatModel, c.Seat, seatsQuota.HolderFor(a, c.Seat.Index, now, now.Add(time.Minute))); err != nil {
		s.t.Fatalf("Take seat %d for %s: %v", c.Seat.Index, a.Job, err)
	}
	return c.Seat.Index
}

// fill has four bulk jobs b0 to b3 take every seat, a second apart.
func (s *seated) fill() {
	s.t.Helper()
	for i := range 4 {
		if got := s.take(fmt.Sprint("b", i), jobs.LaneBulk, false); got != i {
			s.t.Fatalf("bulk job %d took seat %d, want %d (its lane's own, then the reserve)", i, got, i)
		}
		s.clock.Advance(time.Second)
	}
}

func testSeatTakenOnce(t *testing.T, newCapacity NewCapacity) {
	s := newSeated(t, newCapacity)
	ctx := t.Context()
	read := s.seats()
	if len(read) != 4 || read[0].Held(s.clock.Now()) || read[3].Index != 3 {
		t.Fatalf("seats of a model never run: %+v", read)
	}
	now := s.clock.Now()
	h := quota.Holder{Job: "a", Owner: "alice", Lane: jobs.LaneBulk, Until: now.Add(time.Minute), Since: now}
	if err := s.c.Take(ctx, seatModel, read[0], h); err != nil {
		t.Fatal(err)
	}
	// Another job that read the seat free before: too late.
	if err := s.c.Take(ctx, seatModel, read[0], quota.Holder{Job: "b", Owner: "bob", Lane: jobs.LaneBulk, Until: now.Add(time.Minute), Since: now}); !errors.Is(err, jobs.ErrConflict) {
		t.Fatalf("a second take of one seat: %v, want a conflict", err)
	}
	got := s.seats()[0]
	if got.Holder != h || !got.Held(now) || got.Version == 0 {
		t.Errorf("seat 0 is %+v, want held by %+v", got, h)
	}
	// Giving it back frees it; a renewal or release by a job that does
	// not hold it changes nothing.
	if err := s.c.Renew(ctx, seatModel, 0, "b", now.Add(time.Hour)); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("renewal by a job not holding the seat: %v, want a conflict", err)
	}
	if err := s.c.Release(ctx, seatModel, 0, "b"); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("release by a job not holding the seat: %v, want a conflict", err)
	}
	if got := s.seats()[0]; got.Job != "a" || !got.Until.Equal(now.Add(time.Minute)) {
		t.Errorf("after another job's renewal and release the seat is %+v", got)
	}
	if err := s.c.Release(ctx, seatModel, 0, "a"); err != nil {
		t.Fatal(err)
	}
	if got := s.seats()[0]; got.Held(now) {
		t.Errorf("given back, the seat is still held: %+v", got)
	}
	if got := s.take("c", jobs.LaneBulk, false); got != 0 {
		t.Errorf("the seat given back was not the first free: %d", got)
	}
}

// Many workers take and give back seats at once, each as the worker
// does (read, choose, take on the condition the seat is as read, read
// again on a conflict): never more hold a seat at once than there are
// seats, and every take that succeeded is its taker's alone.
func testSeatsUnderConcurrency(t *testing.T, newCapacity NewCapacity) {
	s := newSeated(t, newCapacity)
	ctx := t.Context()
	const workers, rounds = 12, 8
	var holding, most, taken atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			lane := jobs.LaneBulk
			if w%3 == 0 {
				lane = jobs.LaneInteractive
			}
			for r := 0; r < rounds; {
				job := fmt.Sprintf("w%d-%d", w, r)
				seats, err := s.c.Seats(ctx, seatModel, seatsQuota.Concurrency)
				if err != nil {
					errs <- err
					return
				}
				now := s.clock.Now()
				a := quota.Asker{Job: job, Owner: "o", Lane: lane}
				c := seatsQuota.Choose(seats, a, now)
				if c.Action != quota.Take {
					continue // every seat busy: read again
				}
				err = s.c.Take(ctx, seatModel, c.Seat, seatsQuota.HolderFor(a, c.Seat.Index, now, now.Add(time.Hour)))
				switch {
				case errors.Is(err, jobs.ErrConflict):
					continue
				case err != nil:
					errs <- err
					return
				}
				n := holding.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				taken.Add(1)
				if got, err := s.c.Seats(ctx, seatModel, seatsQuota.Concurrency); err != nil || got[c.Seat.Index].Job != job {
					errs <- fmt.Errorf("job %s took seat %d, which then shows %+v (%v)", job, c.Seat.Index, got[c.Seat.Index], err)
					return
				}
				holding.Add(-1)
				if err := s.c.Release(ctx, seatModel, c.Seat.Index, job); err != nil {
					errs <- err
					return
				}
				r++
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if most.Load() > int64(seatsQuota.Concurrency) || taken.Load() != workers*rounds {
		t.Errorf("%d takes, at most %d holders at once; want %d, at most %d", taken.Load(), most.Load(), workers*rounds, seatsQuota.Concurrency)
	}
}

func testSeatLeaseLapses(t *testing.T, newCapacity NewCapacity) {
	s := newSeated(t, newCapacity)
	ctx := t.Context()
	s.fill()
	if c := s.choose("x", jobs.LaneBulk, false); c.Action != quota.Wait {
		t.Fatalf("every seat held: a bulk job can %s", c.Action)
	}
	// b1 renews its lease; the others' lapse a minute after they took
	// their seats.
	if err := s.c.Renew(ctx, seatModel, 1, "b1", s.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(2 * time.Minute)
	if got := s.take("x", jobs.LaneBulk, false); got != 0 {
		t.Errorf("a bulk job took seat %d, want seat 0, whose lease lapsed (seat 1's was renewed)", got)
	}
	// The holder whose lease lapsed no longer holds it: it can neither
	// renew nor give back the new holder's seat.
	if err := s.c.Renew(ctx, seatModel, 0, "b0", s.clock.Now().Add(time.Hour)); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("renewal of a lapsed seat taken since: %v, want a conflict", err)
	}
	if err := s.c.Release(ctx, seatModel, 0, "b0"); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("release of a lapsed seat taken since: %v, want a conflict", err)
	}
	if got := s.seats()[0]; got.Job != "x" {
		t.Errorf("seat 0 is %+v, want x's", got)
	}
	// A renewal changes the seat: a take made on a read from before it
	// fails, so a holder that renews late is never overwritten.
	stale := s.seats()[2] // b2's, lapsed
	if err := s.c.Renew(ctx, seatModel, 2, "b2", s.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	now := s.clock.Now()
	if err := s.c.Take(ctx, seatModel, stale, quota.Holder{Job: "y", Lane: jobs.LaneBulk, Until: now.Add(time.Minute), Since: now}); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("a take on a read from before the holder renewed: %v, want a conflict", err)
	}
}

// Every seat held by a bulk backlog, an interactive job asks a lent seat
// back: its holder sees it at its next flush and gives the seat back; the
// seat is then the asking job's alone for a few seconds, and it takes it.
func testSeatAskedBack(t *testing.T, newCapacity NewCapacity) {
	s := newSeated(t, newCapacity)
	ctx := t.Context()
	s.fill()
	c := s.choose("i", jobs.LaneInteractive, false)
	if c.Action != quota.AskBack || c.Seat.Index != 3 || c.Seat.Job != "b3" {
		t.Fatalf("an interactive job with every seat busy can %s seat %d, want to ask back seat 3, lent to b3 (the last to start)", c.Action, c.Seat.Index)
	}
	if err := s.c.AskBack(ctx, seatModel, c.Seat, "i"); err != nil {
		t.Fatal(err)
	}
	// A second ask on the same read fails: the seat changed.
	if err := s.c.AskBack(ctx, seatModel, c.Seat, "j"); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("a second ask back on one read: %v, want a conflict", err)
	}
	for i := range 4 {
		asked, err := s.c.AskedBack(ctx, seatModel, i, fmt.Sprint("b", i))
		if err != nil || asked != (i == 3) {
			t.Errorf("seat %d asked back: %v, %v", i, asked, err)
		}
	}
	if asked, _ := s.c.AskedBack(ctx, seatModel, 3, "b2"); asked {
		t.Error("a job not holding the seat read it as asked back from it")
	}
	if c := s.choose("i", jobs.LaneInteractive, false); c.Action != quota.AwaitGiveBack || c.Seat.Index != 3 {
		t.Errorf("the asking job can then %s seat %d, want to await seat 3", c.Action, c.Seat.Index)
	}
	if c := s.choose("j", jobs.LaneInteractive, false); c.Action != quota.AskBack || c.Seat.Index != 2 {
		t.Errorf("another interactive job can %s seat %d, want to ask back seat 2", c.Action, c.Seat.Index)
	}
	// The holder lets it go, in the middle of its answer.
	if err := s.c.Release(ctx, seatModel, 3, "b3"); err != nil {
		t.Fatal(err)
	}
	if got := s.seats()[3]; got.Held(s.clock.Now()) || got.For != "i" {
		t.Errorf("given back, seat 3 is %+v, want free and reserved for i", got)
	}
	if c := s.choose("x", jobs.LaneBulk, false); c.Action != quota.Wait {
		t.Errorf("a bulk job can %s seat %d reserved for i, want to wait", c.Action, c.Seat.Index)
	}
	if got := s.take("i", jobs.LaneInteractive, false); got != 3 {
		t.Errorf("i took seat %d, want 3", got)
	}
	if got := s.seats()[3]; got.Job != "i" || got.AskedBack || got.For != "" || got.Lent {
		t.Errorf("seat 3 is %+v, want i's, asked back by nobody", got)
	}
}

func testSeatReservationEnds(t *testing.T, newCapacity NewCapacity) {
	s := newSeated(t, newCapacity)
	ctx := t.Context()
	s.fill()
	c := s.choose("i", jobs.LaneInteractive, false)
	if err := s.c.AskBack(ctx, seatModel, c.Seat, "i"); err != nil {
		t.Fatal(err)
	}
	if err := s.c.Release(ctx, seatModel, c.Seat.Index, c.Seat.Job); err != nil {
		t.Fatal(err)
	}
	// i went away (it waited no longer); a few seconds later the seat is
	// anyone's again.
	s.clock.Advance(quota.SeatReserve)
	if got := s.take("x", jobs.LaneBulk, false); got != c.Seat.Index {
		t.Errorf("after the reservation a bulk job took seat %d, want %d", got, c.Seat.Index)
	}
}

// A job that gave a lent seat back goes on only on a seat of its lane's
// own, and is never asked to give one back again.
func testSeatDisplaced(t *testing.T, newCapacity NewCapacity) {
	s := newSeated(t, newCapacity)
	ctx := t.Context()
	s.fill()
	if err := s.c.Release(ctx, seatModel, 3, "b3"); err != nil { // b3's seat, lent
		t.Fatal(err)
	}
	if c := s.choose("b3", jobs.LaneBulk, true); c.Action != quota.Wait {
		t.Fatalf("displaced, b3 can %s seat %d of the reserve, want to wait for one of its lane's own", c.Action, c.Seat.Index)
	}
	if err := s.c.Release(ctx, seatModel, 0, "b0"); err != nil {
		t.Fatal(err)
	}
	if got := s.take("b3", jobs.LaneBulk, true); got != 0 {
		t.Fatalf("displaced b3 took seat %d, want 0", got)
	}
	if got := s.seats()[0]; !got.Displaced || got.Lent {
		t.Errorf("seat 0 is %+v, want displaced and not lent", got)
	}
	s.take("b4", jobs.LaneBulk, false) // seat 3, lent
	// Interactive jobs ask back every lent seat, and never b3's.
	for _, job := range []string{"i", "j", "k"} {
		c := s.choose(job, jobs.LaneInteractive, false)
		if c.Action == quota.Wait {
			break
		}
		if c.Action != quota.AskBack || c.Seat.Job == "b3" || !c.Seat.Lent {
			t.Fatalf("%s can %s seat %d (%+v)", job, c.Action, c.Seat.Index, c.Seat)
		}
		if err := s.c.AskBack(ctx, seatModel, c.Seat, job); err != nil {
			t.Fatal(err)
		}
	}
	if asked, _ := s.c.AskedBack(ctx, seatModel, 0, "b3"); asked {
		t.Error("the displaced job was asked again")
	}
}

// A bulk job whose owner runs their share already borrows a free seat,
// lent; a bulk job of another owner, within its share, asks it back when
// every seat is busy and takes it once given back. The same owner's jobs,
// and jobs past their own share, ask nothing back.
func testSeatPastShare(t *testing.T, newCapacity NewCapacity) {
	s := newSeated(t, newCapacity)
	ctx := t.Context()
	for i := range 3 { // a's jobs within its share on seats 0 to 2
		s.takeAs(quota.Asker{Job: fmt.Sprint("a", i), Owner: "a", Lane: jobs.LaneBulk})
		s.clock.Advance(time.Second)
	}
	past := quota.Asker{Job: "a3", Owner: "a", Lane: jobs.LaneBulk, PastShare: true}
	got := s.takeAs(past)
	if seat := s.seats()[got]; !seat.PastShare || !seat.Lent || seat.Owner != "a" {
		t.Fatalf("a job past its share holds %+v, want it lent past a's share", seat)
	}
	for _, a := range []quota.Asker{
		{Job: "a4", Owner: "a", Lane: jobs.LaneBulk},
		{Job: "c0", Owner: "c", Lane: jobs.LaneBulk, PastShare: true},
	} {
		if c := seatsQuota.Choose(s.seats(), a, s.clock.Now()); c.Action != quota.Wait {
			t.Errorf("%+v can %s seat %d, want to wait", a, c.Action, c.Seat.Index)
		}
	}
	b := quota.Asker{Job: "b0", Owner: "b", Lane: jobs.LaneBulk}
	c := seatsQuota.Choose(s.seats(), b, s.clock.Now())
	if c.Action != quota.AskBack || c.Seat.Job != "a3" {
		t.Fatalf("b, within its share, can %s seat %d (%s's), want to ask back a3's", c.Action, c.Seat.Index, c.Seat.Job)
	}
	if err := s.c.AskBack(ctx, seatModel, c.Seat, "b0"); err != nil {
		t.Fatal(err)
	}
	if asked, err := s.c.AskedBack(ctx, seatModel, got, "a3"); err != nil || !asked {
		t.Fatalf("a3's seat asked back: %v, %v", asked, err)
	}
	if err := s.c.Release(ctx, seatModel, got, "a3"); err != nil {
		t.Fatal(err)
	}
	if taken := s.takeAs(b); taken != got {
		t.Errorf("b0 took seat %d, want %d, given back for it", taken, got)
	}
	if seat := s.seats()[got]; seat.PastShare || seat.Owner != "b" {
		t.Errorf("seat %d is %+v, want b0's within its share", got, seat)
	}
}
