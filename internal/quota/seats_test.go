package quota

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

func TestTheBulkLanesMappingMayBorrowTheWholeQuota(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		q                 Quota
		interactive, bulk int
	}{
		{Default(), 3, 10},
		{Quota{Concurrency: 4, InteractiveShare: 0.25}, 2, 4},
		{Quota{Concurrency: 40, InteractiveShare: 0.1}, 4, 40},
		{Quota{Concurrency: 2000, InteractiveShare: 0.5}, 1000, 1000}, // a mapping runs at most 1000
	} {
		if got := tc.q.MappingConcurrency(jobs.LaneInteractive); got != tc.interactive {
			t.Errorf("%+v: interactive mapping %d, want %d (its share)", tc.q, got, tc.interactive)
		}
		if got := tc.q.MappingConcurrency(jobs.LaneBulk); got != tc.bulk {
			t.Errorf("%+v: bulk mapping %d, want %d", tc.q, got, tc.bulk)
		}
	}
}

var now = time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)

// seats is a model's n seats, none held.
func seats(n int) []Seat {
	out := make([]Seat, n)
	for i := range out {
		out[i].Index = i
	}
	return out
}

// hold has job of lane hold seat i of s, taken at second since.
func hold(s []Seat, i int, job string, lane jobs.Lane, since int) []Seat {
	q := Quota{Concurrency: len(s), InteractiveShare: 0.25}
	s[i].Holder = Holder{Job: job, Owner: "o", Lane: lane, Until: now.Add(time.Minute),
		Since: now.Add(time.Duration(since) * time.Second), Lent: q.Lends(i, lane)}
	return s
}

// pastShare marks seat i of s as borrowed past owner's fair share, the
// seat taken last.
func pastShare(s []Seat, i int, owner string) []Seat {
	s[i].Owner, s[i].Lent, s[i].PastShare = owner, true, true
	s[i].Since = now.Add(time.Duration(10+i) * time.Second)
	return s
}

func TestChoose(t *testing.T) {
	t.Parallel()
	q := Quota{Concurrency: 4, InteractiveShare: 0.25} // seats 0 and 1 the bulk lane's own, 2 and 3 the reserve
	const bulk, interactive = jobs.LaneBulk, jobs.LaneInteractive
	full := func() []Seat { // a bulk backlog on every seat, the reserve lent
		s := seats(4)
		for i := range s {
			s = hold(s, i, "b"+string(rune('0'+i)), bulk, i)
		}
		return s
	}
	tests := []struct {
		name  string
		seats []Seat
		job   Asker
		want  Action
		seat  int
	}{
		{"a bulk job takes its lane's own seat first", hold(seats(4), 3, "i", interactive, 0), Asker{Job: "x", Owner: "o2", Lane: bulk}, Take, 0},
		{"then a seat of the reserve, lent", hold(hold(seats(4), 0, "a", bulk, 0), 1, "b", bulk, 0), Asker{Job: "x", Owner: "o2", Lane: bulk}, Take, 2},
		{"a displaced bulk job takes only its lane's own", hold(hold(seats(4), 0, "a", bulk, 0), 1, "b", bulk, 0), Asker{Job: "x", Owner: "o2", Lane: bulk, Displaced: true}, Wait, 0},
		{"a displaced bulk job takes a free own seat", hold(seats(4), 0, "a", bulk, 0), Asker{Job: "x", Owner: "o2", Lane: bulk, Displaced: true}, Take, 1},
		{"an interactive job takes the reserve first", seats(4), Asker{Job: "x", Owner: "o2", Lane: interactive}, Take, 2},
		{"then the bulk lane's seats", hold(hold(seats(4), 2, "i1", interactive, 0), 3, "i2", interactive, 0), Asker{Job: "x", Owner: "o2", Lane: interactive}, Take, 0},
		{"a job that holds a seat holds it", hold(seats(4), 1, "x", bulk, 0), Asker{Job: "x", Owner: "o2", Lane: bulk}, Hold, 1},
		{"a lease that lapsed frees its seat", func() []Seat {
			s := full()
			s[1].Until = now
			return s
		}(), Asker{Job: "x", Owner: "o2", Lane: bulk}, Take, 1},
		{"an interactive job asks back the lent seat taken last", full(), Asker{Job: "x", Owner: "o2", Lane: interactive}, AskBack, 3},
		{"but not a displaced job's", func() []Seat {
			s := full()
			s[3].Displaced = true
			return s
		}(), Asker{Job: "x", Owner: "o2", Lane: interactive}, AskBack, 2},
		{"nor one asked back already", func() []Seat {
			s := full()
			s[3].AskedBack, s[3].For = true, "y"
			return s
		}(), Asker{Job: "x", Owner: "o2", Lane: interactive}, AskBack, 2},
		{"and awaits the one asked back for it", func() []Seat {
			s := full()
			s[2].AskedBack, s[2].For = true, "x"
			return s
		}(), Asker{Job: "x", Owner: "o2", Lane: interactive}, AwaitGiveBack, 2},
		{"no lent seat: the interactive job waits", func() []Seat {
			s := full()
			s = hold(s, 2, "i1", interactive, 0)
			return hold(s, 3, "i2", interactive, 0)
		}(), Asker{Job: "x", Owner: "o2", Lane: interactive}, Wait, 0},
		{"a seat given back is its asker's alone", func() []Seat {
			s := full()
			s[3] = Seat{Index: 3, For: "x", ReservedUntil: now.Add(time.Second)}
			return s
		}(), Asker{Job: "y", Owner: "o2", Lane: bulk}, Wait, 0},
		{"its asker takes it", func() []Seat {
			s := full()
			s[3] = Seat{Index: 3, For: "x", ReservedUntil: now.Add(time.Second)}
			return s
		}(), Asker{Job: "x", Owner: "o2", Lane: interactive}, Take, 3},
		{"before any other free seat", func() []Seat {
			s := full()
			s[2] = Seat{Index: 2}
			s[3] = Seat{Index: 3, For: "x", ReservedUntil: now.Add(time.Second)}
			return s
		}(), Asker{Job: "x", Owner: "o2", Lane: interactive}, Take, 3},
		{"the reservation ends", func() []Seat {
			s := full()
			s[3] = Seat{Index: 3, For: "x", ReservedUntil: now}
			return s
		}(), Asker{Job: "y", Owner: "o2", Lane: bulk}, Take, 3},
		{"or its asker holds another seat", func() []Seat {
			s := hold(full(), 2, "x", interactive, 5)
			s[3] = Seat{Index: 3, For: "x", ReservedUntil: now.Add(time.Second)}
			return s
		}(), Asker{Job: "y", Owner: "o2", Lane: bulk}, Take, 3},
		{"a bulk job never asks back a seat within another's share", full(), Asker{Job: "x", Owner: "o2", Lane: bulk}, Wait, 0},
		{"a job past its owner's share borrows a free seat", hold(seats(4), 0, "a", bulk, 0), Asker{Job: "x", Owner: "o2", Lane: bulk, PastShare: true}, Take, 1},
		{"a displaced job never borrows past its share", hold(seats(4), 0, "a", bulk, 0), Asker{Job: "x", Owner: "o2", Lane: bulk, PastShare: true, Displaced: true}, Wait, 0},
		{"a job past its share asks nothing back", pastShare(full(), 3, "o1"), Asker{Job: "x", Owner: "o2", Lane: bulk, PastShare: true}, Wait, 0},
		{"a bulk job within its share asks back a seat borrowed past another's", pastShare(full(), 1, "o1"), Asker{Job: "x", Owner: "o2", Lane: bulk}, AskBack, 1},
		{"the one borrowed last", pastShare(pastShare(full(), 1, "o1"), 0, "o1"), Asker{Job: "x", Owner: "o2", Lane: bulk}, AskBack, 1},
		{"never its own owner's", pastShare(full(), 1, "o2"), Asker{Job: "x", Owner: "o2", Lane: bulk}, Wait, 0},
		{"a displaced bulk job asks back only its lane's own", pastShare(full(), 3, "o1"), Asker{Job: "x", Owner: "o2", Lane: bulk, Displaced: true}, Wait, 0},
		{"a displaced bulk job asks back a borrowed own seat", pastShare(full(), 1, "o1"), Asker{Job: "x", Owner: "o2", Lane: bulk, Displaced: true}, AskBack, 1},
		{"and takes the seat given back for it first", func() []Seat {
			s := hold(seats(4), 0, "a", bulk, 0)
			s[3] = Seat{Index: 3, For: "x", ReservedUntil: now.Add(time.Second)}
			return s
		}(), Asker{Job: "x", Owner: "o2", Lane: bulk}, Take, 3},
		{"an interactive job asks back a seat borrowed past a share", func() []Seat {
			s := pastShare(full(), 1, "o1")
			s[1].Since = now.Add(time.Minute)
			return s
		}(), Asker{Job: "x", Owner: "o2", Lane: interactive}, AskBack, 1},
		{"seats beyond the quota do not count", append(full(), Seat{Index: 4}), Asker{Job: "x", Owner: "o2", Lane: bulk}, Wait, 0},
	}
	// Where two seats are as good, either may be chosen (spread).
	either := map[string][]int{
		"then a seat of the reserve, lent":           {2, 3},
		"an interactive job takes the reserve first": {2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := q.Choose(tt.seats, tt.job, now)
			ok := got.Seat.Index == tt.seat || slices.Contains(either[tt.name], got.Seat.Index)
			if got.Action != tt.want || (tt.want != Wait && !ok) {
				t.Errorf("Choose = %s seat %d, want %s seat %d", got.Action, got.Seat.Index, tt.want, tt.seat)
			}
		})
	}
}

// Jobs choosing at once from the same read of the seats pick different
// free seats, so that their conditional writes seldom collide: 100 jobs
// over 16 free seats of the bulk lane's own choose at least 12 of them.
func TestJobsChoosingAtOnceSpreadOverTheFreeSeats(t *testing.T) {
	t.Parallel()
	q := Quota{Concurrency: 20, InteractiveShare: 0.2}
	var free []Seat
	for i := range q.Concurrency {
		free = append(free, Seat{Index: i})
	}
	chosen := map[int]bool{}
	for i := range 100 {
		c := q.Choose(free, Asker{Job: fmt.Sprintf("job-%d", i), Lane: jobs.LaneBulk}, time.Now())
		if c.Action != Take || c.Seat.Index >= q.Split().Bulk {
			t.Fatalf("job %d: %s seat %d, want a seat of the bulk lane's own (below %d)", i, c.Action, c.Seat.Index, q.Split().Bulk)
		}
		chosen[c.Seat.Index] = true
	}
	if len(chosen) < 12 {
		t.Errorf("100 jobs chose %d distinct seats of 16, want at least 12", len(chosen))
	}
}

// However the seats are held, no more than the bulk lane's share of bulk
// jobs hold a seat that is not lent: an interactive job that finds every
// seat busy while its lane holds fewer than its share finds one to ask
// back (unless displaced jobs hold it, which take only the bulk lane's
// own).
func TestABusyReserveAlwaysHasALentSeatForTheInteractiveLane(t *testing.T) {
	t.Parallel()
	q := Quota{Concurrency: 6, InteractiveShare: 0.34} // 3 and 3
	split := q.Split()
	// Every way of filling six seats with bulk (b) and interactive (i)
	// jobs, each taking what Choose gives it.
	var fill func(s []Seat, order string)
	fill = func(s []Seat, order string) {
		if len(order) == len(s) {
			in := InUse(s, now)
			if in.Interactive >= split.Interactive {
				return
			}
			if c := q.Choose(s, Asker{Job: "x", Lane: jobs.LaneInteractive}, now); c.Action != AskBack {
				t.Errorf("filled in the order %s, %d interactive: an interactive job can %s, want ask back", order, in.Interactive, c.Action)
			}
			return
		}
		for _, lane := range []jobs.Lane{jobs.LaneBulk, jobs.LaneInteractive} {
			next := append([]Seat(nil), s...)
			job := string(lane[0]) + string(rune('0'+len(order)))
			c := q.Choose(next, Asker{Job: job, Lane: lane}, now)
			if c.Action != Take {
				t.Fatalf("order %s: a %s job can %s with a seat free", order, lane, c.Action)
			}
			next[c.Seat.Index].Holder = q.HolderFor(Asker{Job: job, Owner: "o", Lane: lane}, c.Seat.Index, now.Add(time.Duration(len(order))*time.Second), now.Add(time.Minute))
			fill(next, order+string(lane[0]))
		}
	}
	fill(seats(6), "")
}

func TestTheBulkLanesShareIsOfEverySeatTheInteractiveLaneIsNotUsing(t *testing.T) {
	t.Parallel()
	q := Default()
	s := seats(10)
	if got := q.ShareCapacity(jobs.LaneBulk, s, now); got != 10 {
		t.Errorf("no interactive jobs: the bulk lane's share capacity %d, want 10", got)
	}
	s = hold(hold(s, 9, "i1", jobs.LaneInteractive, 0), 8, "i2", jobs.LaneInteractive, 0)
	if got := q.ShareCapacity(jobs.LaneBulk, s, now); got != 8 {
		t.Errorf("two interactive jobs: %d, want 8", got)
	}
	if got := q.ShareCapacity(jobs.LaneInteractive, s, now); got != 3 {
		t.Errorf("the interactive lane's: %d, want its share, 3", got)
	}
	if got := InUse(s, now); got != (Lanes{Interactive: 2}) {
		t.Errorf("InUse = %+v", got)
	}
}
