package worker

import (
	"math"
	"sync"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// lineup says how long a job whose owner already runs their fair share
// should wait before its message comes back: about when the lane could
// get to it. That is the job's place among the owner's jobs this worker
// sent back lately (what it can tell of their backlog) over how many of
// them run at once (their fair share of the lane when they wait for it;
// the model's seats when they wait for one), times the lane's usual run
// time (counted as at least minRunTime), between fairRetryMin and
// fairRetryMax.
//
// So a user's few extra jobs come back within seconds, as their running
// ones end, while the messages of a backlog of thousands spread out to
// half a minute apart: received twice a minute each, not many times a
// second, which would crowd the queue and the others' messages in it. A
// queue without fair ordering (the local stand-in, first in, first out)
// needs this most; on SQS fair queues it keeps the backlog's messages from
// being received again and again while its owner is at their share. The
// most is short enough that once the other users have gone the backlog
// has the whole lane again within half a minute, and that the last jobs
// of a backlog do not sit out long waits counted while it was long (as
// the bound by the lane's queue also sees to).
//
// It knows only what this worker saw (one Lambda instance, or the dev
// runner); several instances each count part of a backlog, which makes
// their waits shorter, never longer. Safe for concurrent use.
type lineup struct {
	mu   sync.Mutex
	sent map[string]*sentBack      // lane/owner: their jobs sent back lately
	run  map[jobs.Lane]runTimeMean // the lane's run time, a moving mean

	remembered int // jobs in sent, about
}

// sentBack is an owner's jobs sent back lately: a fading count of the
// distinct jobs, and each job's place in the owner's line (the count when
// it was first sent back) and when it was last sent back. A job sent back
// again does not count twice, and keeps its place: the first of a few
// jobs waiting for their owner's running ones comes back soonest each
// time, rather than behind all of them once it has come back too early.
type sentBack struct {
	count decaying
	jobs  map[string]spot
}

// spot is a job's place in its owner's line.
type spot struct {
	place float64
	at    time.Time // when it was last sent back
}

const (
	fairRetryMin = time.Second
	fairRetryMax = 30 * time.Second
	// lineupHalfLife is how fast the count of an owner's jobs sent back
	// fades: a backlog sent back four minutes ago counts a quarter. Long
	// enough that a backlog of thousands keeps its long waits while it
	// lasts (each return is a receive that cannot run), short enough that
	// a user back after a pause starts with short ones.
	lineupHalfLife = 2 * time.Minute
	// defaultRunTime stands for the lane's run time until a job of it has
	// run here.
	defaultRunTime = 5 * time.Second
	// minRunTime is the least run time a wait is sized by. Jobs that end
	// in milliseconds (max_tokens of a few, a local model) would otherwise
	// size every wait at fairRetryMin, and a backlog of n jobs would come
	// back n times a second, each a receive, a send and a delete, whatever
	// n is: on the local stand-in under load that crowded out the API's
	// own sends. With it a backlog comes back at most the lane's capacity
	// a second, about as fast as the lane would start one-second jobs.
	minRunTime = time.Second
	// lineupMaxJobs bounds the jobs remembered; past it those sent back
	// more than lineupForget ago go.
	lineupMaxJobs = 100_000
	lineupForget  = 2 * time.Minute
)

type decaying struct {
	n  float64
	at time.Time
}

// valueAt is d's count faded to now.
func (d decaying) valueAt(now time.Time) float64 {
	if d.n == 0 || now.Before(d.at) {
		return d.n
	}
	return d.n * math.Exp2(-float64(now.Sub(d.at))/float64(lineupHalfLife))
}

type runTimeMean struct {
	mean time.Duration
	n    int
}

func newLineup() *lineup {
	return &lineup{sent: map[string]*sentBack{}, run: map[jobs.Lane]runTimeMean{}}
}

// sentBack records that owner's job jobID is sent back in lane (of
// capacity jobs at once, with queued jobs waiting in its queue, or -1 if
// unknown) and returns how long it should wait, before jitter. No job
// waits longer than the lane would take to run everything queued: so a
// backlog's last jobs, counted when it was long, do not sit out their
// long waits while the lane is idle.
func (l *lineup) sentBack(lane jobs.Lane, owner, jobID string, capacity, queued int, now time.Time) time.Duration {
	key := string(lane) + "/" + owner
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.remembered >= lineupMaxJobs {
		l.forget(now)
	}
	o := l.sent[key]
	if o == nil {
		o = &sentBack{jobs: map[string]spot{}}
		l.sent[key] = o
	}
	n := o.count.valueAt(now)
	sp, again := o.jobs[jobID]
	if !again {
		n++
		l.remembered++
		sp.place = n
	}
	o.count = decaying{n: n, at: now}
	sp.at = now
	o.jobs[jobID] = sp
	n = min(n, sp.place)
	run := defaultRunTime
	if m, ok := l.run[lane]; ok {
		run = max(m.mean, minRunTime)
	}
	if queued >= 0 {
		n = min(n, float64(queued))
	}
	wait := time.Duration(max(n, 1) / float64(max(capacity, 1)) * float64(run))
	return min(max(wait, fairRetryMin), fairRetryMax)
}

// forget drops the jobs sent back more than lineupForget ago, and owners
// with none left; l.mu must be held.
func (l *lineup) forget(now time.Time) {
	l.remembered = 0
	for key, o := range l.sent {
		for id, sp := range o.jobs {
			if now.Sub(sp.at) > lineupForget {
				delete(o.jobs, id)
			}
		}
		if len(o.jobs) == 0 {
			delete(l.sent, key)
		}
		l.remembered += len(o.jobs)
	}
}

// ran records that a job of lane ran for d: the mean of the first five,
// then a moving mean that follows a change within about ten jobs.
func (l *lineup) ran(lane jobs.Lane, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.run[lane]
	m.n = min(m.n+1, 5)
	m.mean += (d - m.mean) / time.Duration(m.n)
	l.run[lane] = m
}
