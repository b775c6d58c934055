package quota

import (
	"hash/fnv"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// MaxMappingConcurrency is the most invocations an SQS event source
// mapping runs at once (its largest MaximumConcurrency).
const MaxMappingConcurrency = 1000

// MappingConcurrency is how many worker invocations lane's event source
// mapping may run at once, one job each (the stack's MaximumConcurrency,
// the dev stack's pollers): the interactive lane its share,
// Split().Interactive; the bulk lane the whole concurrency (at most
// MaxMappingConcurrency), so that it can borrow the seats the interactive
// lane is not using. The model's seats, not the mappings, bound how many
// generations run at once. q must be valid.
func (q Quota) MappingConcurrency(lane jobs.Lane) int {
	if lane == jobs.LaneBulk {
		return min(q.Concurrency, MaxMappingConcurrency)
	}
	return q.Split().Interactive
}

// Holder is the job holding a seat, as it took it.
type Holder struct {
	Job   string // "" for a seat nobody holds
	Owner string
	Lane  jobs.Lane
	// Until is when the seat lapses unless renewed: a lease, as long as
	// the job's claim.
	Until time.Time
	// Since is when the job took the seat.
	Since time.Time
	// Lent: the job gives the seat back when asked: a bulk job on a seat
	// of the interactive lane's reserve, which an interactive job may ask
	// back, or a bulk job past its owner's fair share (PastShare).
	Lent bool
	// PastShare: a bulk job that borrowed a free seat while its owner ran
	// their fair share of the lane already; any job within its owner's
	// share, of either lane and another owner, may ask it back.
	PastShare bool
	// Displaced: the job gave a lent seat back before, and is never asked
	// to again.
	Displaced bool
}

// Seat is one of a model's seats as read: one generation at once of its
// quota.
type Seat struct {
	Index int
	Holder
	// AskedBack: an interactive job, For, asked the lent seat back; its
	// holder stops at its next flush and gives it back.
	AskedBack bool
	// For is the interactive job the seat was asked back for. Once given
	// back, the seat is For's alone until ReservedUntil, so that no bulk
	// job takes it in between.
	For           string
	ReservedUntil time.Time
	// Version changes with every write of the seat: a write is made on
	// the condition that the seat is still as read.
	Version int64
}

// SeatReserve is how long a seat given back stays reserved for the
// interactive job that asked for it: long enough for that job, which reads
// the seat every few hundred milliseconds, to take it, or for its message,
// sent back when it could wait no longer, to come back.
const SeatReserve = 5 * time.Second

// Held reports whether someone holds s at now (a lease that lapsed frees
// the seat: its holder died, or could not renew it).
func (s Seat) Held(now time.Time) bool { return s.Job != "" && s.Until.After(now) }

// Action is what a job may do with a model's seats ([Quota.Choose]).
type Action int

const (
	// Wait: no seat is free, and none can be asked back; the job waits
	// for one.
	Wait Action = iota
	// Take: the seat is free for the job: take it.
	Take
	// Hold: the job holds the seat already, for another of its messages
	// (a duplicate delivery, a replay's copy, or a message whose worker
	// died). The seat stays its holder's unless this message's worker
	// claims the job, and then takes the seat over.
	Hold
	// AskBack: every seat is busy; ask this lent one back from the bulk
	// job holding it.
	AskBack
	// AwaitGiveBack: the seat was asked back for the job; wait for its
	// holder to give it back.
	AwaitGiveBack
)

func (a Action) String() string {
	switch a {
	case Wait:
		return "wait"
	case Take:
		return "take"
	case Hold:
		return "hold"
	case AskBack:
		return "ask back"
	case AwaitGiveBack:
		return "await give back"
	}
	return "action(?)"
}

// Choice is what a job may do, and with which seat.
type Choice struct {
	Action Action
	Seat   Seat
}

// Lends reports whether a job of lane taking seat index is lent it: a bulk
// job on a seat of the interactive lane's reserve, which is every seat
// from Split().Bulk on. Which seats are lent is a matter of their index,
// not of a count, so two bulk jobs taking seats at once can never both
// take the bulk lane's last own seat: at most Split().Bulk bulk jobs hold
// a seat that is not lent, and an interactive job that finds every seat
// busy while its lane holds fewer than its share always finds a lent one.
func (q Quota) Lends(index int, lane jobs.Lane) bool {
	return lane.OrDefault() == jobs.LaneBulk && index >= q.Split().Bulk
}

// Asker is a job choosing what to do with a model's seats.
type Asker struct {
	Job   string
	Owner string
	Lane  jobs.Lane
	// Displaced: the job gave a lent seat back before. It takes only a
	// seat of its lane's own and never borrows past its owner's share, so
	// it is never asked to give a seat back twice.
	Displaced bool
	// PastShare: a bulk job whose owner runs their fair share of the lane
	// already (the fair shares refused it a slot). It may borrow a free
	// seat, lent, so that no seat sits idle while a job waits; it never
	// asks one back.
	PastShare bool
}

// HolderFor is the holder that a (choosing with Choose) writes on seat
// index, taken at now until until: lent if the seat is of the interactive
// lane's reserve or a is past its owner's share.
func (q Quota) HolderFor(a Asker, index int, since, until time.Time) Holder {
	return Holder{Job: a.Job, Owner: a.Owner, Lane: a.Lane.OrDefault(), Until: until, Since: since,
		Lent: q.Lends(index, a.Lane) || a.PastShare, PastShare: a.PastShare, Displaced: a.Displaced}
}

// Choose decides what job a may do with a model's seats as read at now,
// seats 0 to Concurrency-1 (others are ignored):
//
//   - a job that holds a seat already: Hold it;
//   - a free seat, whatever the lane (so no seat sits idle while a job
//     waits): Take it. A job takes first a seat given back for it; then an
//     interactive job one of its lane's reserve, then one of the bulk
//     lane's; a bulk job one of its lane's own, then one of the reserve,
//     lent; a displaced bulk job only one of its lane's own. A seat given
//     back for a job is free only to that job until its reservation ends
//     (or that job holds another seat). A bulk job past its owner's share
//     takes a free seat as any bulk job does, lent; a displaced one none;
//   - when every seat is busy: AwaitGiveBack the seat asked back for the
//     job already, or else AskBack the one taken last (its holder has
//     written the least) of those it may ask that nobody asked back yet:
//     an interactive job any lent seat; a bulk job within its owner's share
//     a seat borrowed past another owner's share (of its lane's own, if
//     the job was displaced). A job past its share asks nothing back;
//   - otherwise Wait.
func (q Quota) Choose(seats []Seat, a Asker, now time.Time) Choice {
	lane, job := a.Lane.OrDefault(), a.Job
	if a.PastShare && (a.Displaced || lane != jobs.LaneBulk) {
		return Choice{Action: Wait} // never lent twice; only the bulk lane borrows past a share
	}
	own := q.Split().Bulk
	holding := map[string]bool{}
	for _, s := range seats {
		if s.Index >= q.Concurrency || !s.Held(now) {
			continue
		}
		if s.Job == job {
			return Choice{Action: Hold, Seat: s}
		}
		holding[s.Job] = true
	}
	free := func(s Seat) bool {
		return !s.Held(now) && (s.For == "" || s.For == job || !s.ReservedUntil.After(now) || holding[s.For])
	}
	// rank orders the free seats a job may take, lower first; -1: not
	// this job's to take.
	rank := func(s Seat) int {
		switch {
		case s.For == job && s.ReservedUntil.After(now):
			return 0
		case lane == jobs.LaneInteractive && s.Index >= own:
			return 1
		case lane == jobs.LaneInteractive:
			return 2
		case s.Index < own:
			return 1
		case a.Displaced:
			return -1
		}
		return 2
	}
	// Among the seats of the best rank, each job starts looking at a
	// place of its own (spread): jobs choosing at once from the same read
	// would otherwise all pick the same seat, and all but one lose its
	// conditional write and read again.
	best, bestRank := Seat{}, -1
	for i := range seats {
		s := seats[(i+spread(job, len(seats)))%len(seats)]
		if s.Index >= q.Concurrency || !free(s) {
			continue
		}
		if r := rank(s); r >= 0 && (bestRank < 0 || r < bestRank) {
			best, bestRank = s, r
		}
	}
	if bestRank >= 0 {
		return Choice{Action: Take, Seat: best}
	}
	if a.PastShare {
		return Choice{Action: Wait}
	}
	// asks reports whether the job may ask s back.
	asks := func(s Seat) bool {
		if !s.Lent || s.Displaced || s.AskedBack {
			return false
		}
		if lane == jobs.LaneInteractive {
			return true
		}
		return s.PastShare && s.Owner != a.Owner && (!a.Displaced || s.Index < own)
	}
	var lent *Seat
	for i, s := range seats {
		switch {
		case s.Index >= q.Concurrency || !s.Held(now):
		case s.AskedBack && s.For == job:
			return Choice{Action: AwaitGiveBack, Seat: s}
		case asks(s) && (lent == nil || s.Since.After(lent.Since)):
			lent = &seats[i]
		}
	}
	if lent != nil {
		return Choice{Action: AskBack, Seat: *lent}
	}
	return Choice{Action: Wait}
}

// InUse is how many seats each lane's jobs hold at now.
func InUse(seats []Seat, now time.Time) Lanes {
	var l Lanes
	for _, s := range seats {
		if !s.Held(now) {
			continue
		}
		if s.Lane.OrDefault() == jobs.LaneBulk {
			l.Bulk++
		} else {
			l.Interactive++
		}
	}
	return l
}

// ShareCapacity is the concurrency of lane that each of its users has a
// fair share of ([FairShare]), given the model's seats as read at now: the
// interactive lane's share of the quota, and for the bulk lane every seat
// the interactive lane is not using, so that several users' backlogs
// share all of the capacity they can borrow.
func (q Quota) ShareCapacity(lane jobs.Lane, seats []Seat, now time.Time) int {
	if lane.OrDefault() != jobs.LaneBulk {
		return q.Split().Interactive
	}
	return max(1, q.Concurrency-InUse(seats, now).Interactive)
}

// spread is where in n seats the job starts looking for a free one: a
// hash of its id, so that jobs choosing at once pick different seats.
func spread(job string, n int) int {
	if n == 0 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(job))
	return int(h.Sum32() % uint32(n))
}
