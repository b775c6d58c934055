package loadtest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"sync"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// PollMode is how clients watch their jobs.
type PollMode int

const (
	// PollList: each user lists its jobs (GET /jobs?limit=100) every
	// Plan.PollEvery while any is unfinished, as `scripts/batch --wait`
	// does.
	PollList PollMode = iota
	// PollEach: each job is polled with GET /jobs/{id} as the web app
	// polls (web/js/poller.js, pollDelay): first a second after it was
	// accepted, then just after each write the API says is due
	// (text_due_in_ms, plus AfterWrite, at least 0.5 s), and when none is,
	// 1, 1, 2, then 3 s after answers that brought nothing new, never
	// sooner than Retry-After (at least 0.5 s).
	PollEach
	// PollRetryAfter: each job is polled as the web app polled before its
	// pace followed the text: first a second after it was accepted, then
	// as Retry-After says (at least 0.5 s). For comparison (make cost
	// -poll retry-after).
	PollRetryAfter
)

// IdleSteps are the web app's waits after answers that brought nothing
// new (web/js/poller.js, IDLE_DELAYS_MS): IdleSteps[n] after n in a row,
// the last for more.
var IdleSteps = []time.Duration{time.Second, time.Second, 2 * time.Second, 3 * time.Second}

// AfterWrite is how long after a write is due the web app asks for the
// text (web/js/poller.js, AFTER_WRITE_MS).
const AfterWrite = 200 * time.Millisecond

// Plan is what the simulated users do.
type Plan struct {
	// Run is a short id of this run, part of every idempotency key.
	Run   string
	Users []User
	// JobsPerUser is how many distinct jobs (keys) each user submits.
	JobsPerUser int
	// InFlight is how many submissions a user has in flight at once.
	// Default 1.
	InFlight int
	// Spread starts each user's submissions evenly over this long; 0
	// starts them as fast as InFlight allows.
	Spread time.Duration
	// Replays is the share (0..1) of accepted submissions sent a second
	// time with the same key and body, as by a client that lost the first
	// answer; the API must answer with the same job.
	Replays float64
	// MaxTokens of each job; 0 leaves the API's default.
	MaxTokens int
	// Poll and PollEvery (PollList's interval, default 1 s): how users
	// watch their jobs.
	Poll      PollMode
	PollEvery time.Duration
	// SubmitFor is how long a submission the API did not answer (no
	// response, 5xx, 429) is retried with the same key. Default 2 min.
	SubmitFor time.Duration
	// Wait bounds the whole run: polling stops this long after the start.
	// Default 10 min.
	Wait time.Duration
	// OnAccepted, if set, is called once per job when its first 202
	// arrives.
	OnAccepted func(*Submission)
	// OnPoll, if set, is called with each GET /jobs/{id} answer that
	// PollEach or PollRetryAfter got (at: when it came).
	OnPoll func(s *Submission, at time.Time, j JobView)
}

// Submission is one job a user submitted, as the client saw it.
type Submission struct {
	User   int
	Key    string
	Prompt string

	mu         sync.Mutex
	JobID      string    // from the 202; "" if the API never accepted it
	AcceptedAt time.Time // when the 202 came
	// FirstReplayed: that 202 said Idempotent-Replayed, so an earlier call
	// whose answer the client never got had created the job.
	FirstReplayed bool
	Calls         int    // POST /generate calls until an answer that was not retried
	Status        int    // that answer's status (0: none)
	Err           string // the last transport error
	// A replay (Plan.Replays): the job id it was answered with, and
	// whether the answer said Idempotent-Replayed.
	Replayed    bool
	ReplayJobID string
	ReplayFlag  bool
	ReplayErr   string
	// Final is the last status polling saw, TerminalAt when it first saw
	// a terminal one.
	Final      string
	TerminalAt time.Time
}

func (s *Submission) accepted() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.JobID, s.JobID != ""
}

func (s *Submission) see(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Final = status
	if jobs.Status(status).Terminal() && s.TerminalAt.IsZero() {
		s.TerminalAt = time.Now()
	}
}

func (s *Submission) done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.JobID == "" || jobs.Status(s.Final).Terminal()
}

// Outcome is what a run did.
type Outcome struct {
	Submissions []*Submission
	Start       time.Time
	SubmitEnd   time.Time // when the last submission got its answer
	End         time.Time // when polling ended
}

// Accepted returns the submissions the API accepted.
func (o *Outcome) Accepted() []*Submission {
	var out []*Submission
	for _, s := range o.Submissions {
		if _, ok := s.accepted(); ok {
			out = append(out, s)
		}
	}
	return out
}

// Unfinished returns the accepted submissions polling never saw terminal.
func (o *Outcome) Unfinished() []*Submission {
	var out []*Submission
	for _, s := range o.Submissions {
		if !s.done() {
			out = append(out, s)
		}
	}
	return out
}

// Key is the idempotency key of user u's job j in run.
func Key(run string, u, j int) string { return fmt.Sprintf("%s-u%02d-j%04d", run, u, j) }

// Prompt is the prompt of the job with key: the key in brackets first, so
// [ModelCalls] can tell which job a model call is for.
func Prompt(key string, u, j int) string {
	return fmt.Sprintf("[%s] Load test: user %d, job %d. Write a few sentences about queues.", key, u, j)
}

// Run carries out p against the API c talks to and returns what happened.
// It returns an error only for a plan that cannot run; what the API did is
// in the outcome.
func Run(ctx context.Context, c *Client, p Plan) (*Outcome, error) {
	if len(p.Users) == 0 || p.JobsPerUser < 1 {
		return nil, errors.New("loadtest: a plan needs users and jobs")
	}
	p.InFlight = max(p.InFlight, 1)
	if p.PollEvery <= 0 {
		p.PollEvery = time.Second
	}
	if p.SubmitFor <= 0 {
		p.SubmitFor = 2 * time.Minute
	}
	if p.Wait <= 0 {
		p.Wait = 10 * time.Minute
	}
	o := &Outcome{Start: time.Now()}
	ctx, cancel := context.WithDeadline(ctx, o.Start.Add(p.Wait))
	defer cancel()

	var submitEnd time.Time
	var endMu sync.Mutex
	var wg sync.WaitGroup
	for u, user := range p.Users {
		subs := make([]*Submission, p.JobsPerUser)
		for j := range subs {
			key := Key(p.Run, u, j)
			subs[j] = &Submission{User: u, Key: key, Prompt: Prompt(key, u, j)}
		}
		o.Submissions = append(o.Submissions, subs...)
		wg.Go(func() {
			submitted := make(chan struct{})
			var polls sync.WaitGroup
			if p.Poll == PollList {
				polls.Go(func() { pollList(ctx, c, p, user, subs, submitted) })
			}
			sem := make(chan struct{}, p.InFlight)
			var subWG sync.WaitGroup
			for j, s := range subs {
				if p.Spread > 0 {
					at := o.Start.Add(p.Spread * time.Duration(j) / time.Duration(p.JobsPerUser))
					if !sleepUntil(ctx, at) {
						break
					}
				}
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
				}
				if ctx.Err() != nil {
					break
				}
				subWG.Go(func() {
					defer func() { <-sem }()
					submit(ctx, c, p, user, s)
					if _, ok := s.accepted(); ok && (p.Poll == PollEach || p.Poll == PollRetryAfter) {
						polls.Go(func() { pollEach(ctx, c, p, user, s) })
					}
				})
			}
			subWG.Wait()
			endMu.Lock()
			if now := time.Now(); now.After(submitEnd) {
				submitEnd = now
			}
			endMu.Unlock()
			close(submitted)
			polls.Wait()
		})
	}
	wg.Wait()
	o.SubmitEnd, o.End = submitEnd, time.Now()
	return o, nil
}

// submit sends s until the API answers it, then replays it if chosen.
func submit(ctx context.Context, c *Client, p Plan, user User, s *Submission) {
	req := GenerateRequest{Prompt: s.Prompt, MaxTokens: p.MaxTokens}
	res, a, calls, err := generateRetrying(ctx, c, p.SubmitFor, user.Token, s.Key, req)
	s.mu.Lock()
	s.Calls, s.Status = calls, res.Status
	if err != nil {
		s.Err = err.Error()
	}
	if res.Status == http.StatusAccepted {
		s.JobID, s.AcceptedAt = a.JobID, time.Now()
		s.FirstReplayed = res.Header.Get("Idempotent-Replayed") == "true"
	}
	s.mu.Unlock()
	if res.Status != http.StatusAccepted {
		return
	}
	if p.OnAccepted != nil {
		p.OnAccepted(s)
	}
	if !chosen(s.Key, p.Replays) {
		return
	}
	res, a, _, err = generateRetrying(ctx, c, p.SubmitFor, user.Token, s.Key, req)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Replayed = true
	s.ReplayJobID = a.JobID
	s.ReplayFlag = res.Header.Get("Idempotent-Replayed") == "true"
	if err != nil {
		s.ReplayErr = err.Error()
	} else if res.Status != http.StatusAccepted {
		s.ReplayErr = fmt.Sprintf("status %d: %s", res.Status, res.Body)
	}
}

// generateRetrying calls POST /generate until it gets an answer that is
// not worth retrying (anything but no answer, 429 or 5xx) or retryFor has
// passed, always with the same key. It returns the last answer, the number
// of calls and the last transport error.
func generateRetrying(ctx context.Context, c *Client, retryFor time.Duration, token, key string, req GenerateRequest) (Response, Accepted, int, error) {
	deadline := time.Now().Add(retryFor)
	backoff := 250 * time.Millisecond
	var (
		res   Response
		a     Accepted
		err   error
		calls int
	)
	for ctx.Err() == nil {
		calls++
		res, a, err = c.Generate(ctx, token, key, req)
		if err == nil && res.Status != http.StatusTooManyRequests && res.Status < 500 {
			return res, a, calls, nil
		}
		wait := backoff
		if ra, _ := res.RetryAfter(); err == nil && ra > 0 {
			wait = ra
		}
		if time.Now().Add(wait).After(deadline) {
			break
		}
		if !sleepUntil(ctx, time.Now().Add(wait)) {
			break
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return res, a, calls, err
}

// chosen picks about share of keys, the same ones every run.
func chosen(key string, share float64) bool {
	if share <= 0 {
		return false
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return float64(h.Sum32()%10000) < share*10000
}

// pollList lists the user's jobs every PollEvery while any accepted job is
// unfinished, until its submissions are over and all are done.
func pollList(ctx context.Context, c *Client, p Plan, user User, subs []*Submission, submitted <-chan struct{}) {
	byID := map[string]*Submission{}
	for {
		finished := false
		select {
		case <-submitted:
			finished = true
		default:
		}
		pending := 0
		for _, s := range subs {
			if id, ok := s.accepted(); ok {
				byID[id] = s
			}
			if !s.done() {
				pending++
			}
		}
		if pending == 0 && finished {
			return
		}
		if pending > 0 {
			_ = c.List(ctx, user.Token, func(jobs []JobView) bool {
				for _, j := range jobs {
					if s := byID[j.JobID]; s != nil {
						s.see(j.Status)
					}
				}
				return false
			})
		}
		if !sleepUntil(ctx, time.Now().Add(p.PollEvery)) {
			return
		}
	}
}

// pollEach watches one job as the web app does (p.Poll: PollEach, or
// PollRetryAfter as it did before).
func pollEach(ctx context.Context, c *Client, p Plan, user User, s *Submission) {
	id, _ := s.accepted()
	wait := time.Second
	idle, seen := 0, ""
	for sleepUntil(ctx, time.Now().Add(wait)) {
		res, j, err := c.Get(ctx, user.Token, id)
		wait = 2 * time.Second
		if err != nil || res.Status != http.StatusOK {
			continue
		}
		if p.OnPoll != nil {
			p.OnPoll(s, time.Now(), j)
		}
		s.see(j.Status)
		if jobs.Status(j.Status).Terminal() {
			return
		}
		floor := wait // no Retry-After: the web app's 2 s
		if ra, _ := res.RetryAfter(); ra > 0 {
			floor = max(ra, 500*time.Millisecond)
		}
		if p.Poll == PollRetryAfter {
			wait = floor
			continue
		}
		news := fmt.Sprintf("%s|%d", j.Status, len(j.GeneratedText))
		if news == seen {
			idle++
		} else {
			idle = 0
		}
		seen = news
		if j.TextDueInMS != nil {
			wait = max(time.Duration(*j.TextDueInMS)*time.Millisecond+AfterWrite, 500*time.Millisecond)
			continue
		}
		wait = max(floor, IdleSteps[min(idle, len(IdleSteps)-1)])
	}
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
