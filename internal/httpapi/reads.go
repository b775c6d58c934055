package httpapi

import (
	"container/list"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/promptq/promptq/internal/jobs"
)

// readLimiter holds each user to a rate of reads (polls, listings, usage,
// cancels) in this instance's memory: no DynamoDB write per request, which
// a poll a second would make the largest cost of a web job. Requests that
// create jobs keep the exact, table-wide count (Deps.Requests).
//
// Per instance, a user spreading requests over many instances at once gets
// the rate in each: the API stage's throttle bounds everyone together, and
// the optional WAF rule (promptq:wafRateLimit) bounds each access token
// across instances. A user polling from one page meets one instance at a
// time and sees the rate as set.
type readLimiter struct {
	rate  rate.Limit
	burst int

	mu    sync.Mutex
	users map[string]*list.Element // of *userRate, most recently used first
	lru   *list.List
}

type userRate struct {
	owner string
	lim   *rate.Limiter
}

// readUsers bounds the users an instance keeps a rate for: the least
// recently seen is forgotten first (and starts again with a full burst).
const readUsers = 10_000

// newReadLimiter allows perSecond reads a second to each user, with bursts
// of ten seconds' worth (the window the table-wide count used); nil when
// perSecond is not positive.
func newReadLimiter(perSecond int) *readLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &readLimiter{rate: rate.Limit(perSecond), burst: perSecond * 10,
		users: map[string]*list.Element{}, lru: list.New()}
}

// allow takes one read of owner at now, or refuses it with a *jobs.Error of
// KindRateLimited saying when one more would pass.
func (l *readLimiter) allow(owner string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.users[owner]
	if ok {
		l.lru.MoveToFront(e)
	} else {
		e = l.lru.PushFront(&userRate{owner: owner, lim: rate.NewLimiter(l.rate, l.burst)})
		l.users[owner] = e
		if l.lru.Len() > readUsers {
			last := l.lru.Back()
			l.lru.Remove(last)
			delete(l.users, last.Value.(*userRate).owner)
		}
	}
	lim := e.Value.(*userRate).lim
	if lim.AllowN(now, 1) {
		return nil
	}
	r := lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return &jobs.Error{Kind: jobs.KindRateLimited, Field: "requests_per_second", RetryAfterSeconds: max(1, int(math.Ceil(wait.Seconds()))),
		Message: fmt.Sprintf("You have sent more than %d requests a second on average for a while; wait as Retry-After says, then go on.", int(l.rate))}
}
