package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/sync/errgroup"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
	"github.com/promptq/promptq/internal/measure/awscount"
	submitting "github.com/promptq/promptq/internal/submit"
)

// noUserLimits turns off the per-user limits one user's thousands of jobs
// would meet (active jobs, tokens a day): the measurements are of the
// lanes, not of those limits.
var noUserLimits = map[string]string{
	"PROMPTQ_LIMIT_ACTIVE_JOBS":    "0",
	"PROMPTQ_LIMIT_TOKENS_PER_DAY": "0",
}

// withEnv is base with extra over it (extra's keys win unless base names
// them: a caller's own setting is kept).
func withEnv(base map[string]string, extra map[string]string) map[string]string {
	out := maps.Clone(extra)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, base)
	return out
}

func runID(prefix string) string {
	return prefix + strconv.FormatInt(time.Now().Unix()%100000, 10)
}

// WaitOptions configure [MeasureInteractiveWait].
type WaitOptions struct {
	Stack     StackOptions  // Env, Log, Console of the dev stack
	BulkJobs  int           // one user's bulk backlog
	Users     int           // other users, one interactive job each
	Head      time.Duration // the backlog is queued this long before them
	Apart     time.Duration // between two of them (0: all at once)
	MaxTokens int           // every job's max_tokens (0: the API's default)
	Target    time.Duration // the interactive jobs' p95 queue wait
	Timeout   time.Duration // for the interactive jobs to end
}

// MeasureInteractiveWait measures how long people in the browser wait
// behind a batch: one user queues BulkJobs on the bulk lane, then Users
// other users each submit one job to POST /generate (the interactive
// lane). Their queue wait is started_at - created_at, from the table.
func MeasureInteractiveWait(ctx context.Context, o WaitOptions) (*LaneReport, error) {
	rep := &LaneReport{Scenario: fmt.Sprintf("interactive wait: %d bulk jobs queued by one user, then %d users submit one job each", o.BulkJobs, o.Users)}
	so := o.Stack
	so.Env = withEnv(so.Env, noUserLimits)
	st, err := StartStack(ctx, so)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	split := st.Config.Quota.Split()
	rep.note("dev stack: %d generations at once (PROMPTQ_MODEL_CONCURRENCY), %d of them the interactive lane's reserve (PROMPTQ_INTERACTIVE_SHARE %g), lent to the bulk lane while unused",
		st.Config.Quota.Concurrency, split.Interactive, st.Config.Quota.InteractiveShare)

	users, err := SignUpUsers(ctx, st.Info, "wait", o.Users+1, 4)
	if err != nil {
		return nil, err
	}
	c := NewClient(st.Info.APIURL, o.Users+4)
	run := runID("wait")
	t0 := time.Now()
	bulk, err := submitBulk(ctx, c, run, 0, users[0], o.BulkJobs, o.MaxTokens)
	if err != nil {
		return nil, fmt.Errorf("queue the backlog: %w", err)
	}
	rep.note("user 0 queued %d bulk jobs with POST /generate/batch in %s", len(bulk), secs(time.Since(t0)))
	if !sleepUntil(ctx, time.Now().Add(o.Head)) {
		return nil, ctx.Err()
	}

	ids := make([]string, o.Users)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for i := range o.Users {
		g.Go(func() error {
			if !sleepUntil(gctx, start.Add(time.Duration(i)*o.Apart)) {
				return gctx.Err()
			}
			u := i + 1
			key := Key(run, u, 0)
			id, err := generateOne(gctx, c, users[u], key, GenerateRequest{Prompt: Prompt(key, u, 0), MaxTokens: o.MaxTokens})
			ids[i] = id
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("submit the interactive jobs: %w", err)
	}
	rep.note("%s later, %d users each sent one job to POST /generate, %s apart", o.Head, o.Users, o.Apart)

	others := users[1:]
	byOwner, err := waitJobs(ctx, st, others, 250*time.Millisecond, o.Timeout, func(m map[string][]JobRecord) bool {
		for _, u := range others {
			if !allTerminal(m[u.Sub]) || len(m[u.Sub]) == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	var recs []JobRecord
	for _, u := range others {
		recs = append(recs, byOwner[u.Sub]...)
	}
	waits := queueWaits(recs)
	p95 := Percentile(waits, 95)
	rep.figure("interactive queue wait p95", secs(p95), "≤ "+secs(o.Target), len(waits) == o.Users && p95 <= o.Target)
	rep.show("each (sorted)", durations(waits))
	rep.show("their run time", durations(runTimes(recs)))
	succeeded := countStatus(recs)[string(jobs.StatusSucceeded)]
	rep.figure("interactive jobs succeeded", fmt.Sprintf("%d of %d", succeeded, o.Users), fmt.Sprintf("%d of %d", o.Users, o.Users), succeeded == o.Users)

	// The backlog they did not wait behind: bulk jobs not yet started
	// when the first of them was created.
	backlog, err := ReadJobs(ctx, st.DB, st.Info.TableName, users[:1])
	if err != nil {
		return nil, err
	}
	first, _ := span(recs)
	waiting := 0
	for _, r := range backlog[users[0].Sub] {
		if _, started, _ := r.Times(); started.IsZero() || started.After(first) {
			waiting++
		}
	}
	rep.show("bulk jobs still queued then", strconv.Itoa(waiting))
	return rep, nil
}

// FairOptions configure [MeasureBulkFairness].
type FairOptions struct {
	Stack     StackOptions
	AJobs     int           // user A's backlog
	BJobs     int           // user B's small batch
	After     time.Duration // B submits this long after A's backlog is queued
	MaxTokens int           // every job's max_tokens
	Multiple  float64       // B's target: its makespan in fair-share times
	Watch     time.Duration // how long after B's end A's use of the lane is watched
	Timeout   time.Duration // for B's jobs to end
}

// MeasureBulkFairness measures how one user's large backlog delays
// another's small batch in the bulk lane. B's fair share is half the
// lane while both have work; its fair-share time is the time its jobs
// take on that half: BJobs × (a job's run time) / (bulk capacity / 2).
// With no interactive job, the bulk lane's capacity is every seat of the
// model (quota.Quota.ShareCapacity).
func MeasureBulkFairness(ctx context.Context, o FairOptions) (*LaneReport, error) {
	rep := &LaneReport{Scenario: fmt.Sprintf("bulk fairness: user A queues %d bulk jobs, user B %d a few seconds later", o.AJobs, o.BJobs)}
	sentBack := &sentBackLog{}
	so := o.Stack
	so.Env = withEnv(so.Env, noUserLimits)
	so.Hooks.AWS = append(so.Hooks.AWS, sentBack.middleware())
	st, err := StartStack(ctx, so)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	capacity := st.Config.Quota.ShareCapacity(jobs.LaneBulk, nil, time.Now())
	rep.note("dev stack: %d bulk generations at once (every seat, no interactive job); max_tokens %d", capacity, o.MaxTokens)

	users, err := SignUpUsers(ctx, st.Info, "fair", 2, 2)
	if err != nil {
		return nil, err
	}
	a, b := users[0], users[1]
	c := NewClient(st.Info.APIURL, 8)
	run := runID("fair")
	t0 := time.Now()
	if _, err := submitBulk(ctx, c, run, 0, a, o.AJobs, o.MaxTokens); err != nil {
		return nil, fmt.Errorf("queue A's backlog: %w", err)
	}
	rep.note("A queued %d jobs (max_tokens %d) in %s", o.AJobs, o.MaxTokens, secs(time.Since(t0)))
	if !sleepUntil(ctx, time.Now().Add(o.After)) {
		return nil, ctx.Err()
	}
	bIDs, err := submitBulk(ctx, c, run, 1, b, o.BJobs, o.MaxTokens)
	if err != nil {
		return nil, fmt.Errorf("queue B's batch: %w", err)
	}
	rep.note("%s later B queued %d jobs", o.After, len(bIDs))
	byOwner, err := waitJobs(ctx, st, []User{b}, time.Second, o.Timeout, func(m map[string][]JobRecord) bool {
		return len(m[b.Sub]) == o.BJobs && allTerminal(m[b.Sub])
	})
	if err != nil {
		return nil, fmt.Errorf("user B's jobs: %w", err)
	}
	bRecs := byOwner[b.Sub]
	bFirst, bLast := span(bRecs)
	// Watch A alone for a while after B has gone.
	if !sleepUntil(ctx, bLast.Add(o.Watch)) {
		return nil, ctx.Err()
	}
	all, err := ReadJobs(ctx, st.DB, st.Info.TableName, users)
	if err != nil {
		return nil, err
	}
	aRecs := all[a.Sub]

	runs := runTimes(bRecs)
	d := Percentile(runs, 50)
	fairTime := time.Duration(float64(o.BJobs) * float64(d) / (float64(capacity) / 2))
	makespan := bLast.Sub(bFirst)
	ratio := float64(makespan) / float64(fairTime)
	rep.figure("B's last job ended after", secs(makespan), "", true)
	rep.show("B's fair-share time", fmt.Sprintf("%s (%d jobs × %s median run / (%d / 2))", secs(fairTime), o.BJobs, secs(d), capacity))
	rep.figure("B's time / fair-share time", fmt.Sprintf("%.2f", ratio), fmt.Sprintf("≤ %g", o.Multiple), ratio <= o.Multiple)
	ahead := 0
	for _, r := range aRecs {
		if _, started, _ := r.Times(); started.IsZero() || started.After(bFirst) {
			ahead++
		}
	}
	aRun := Percentile(runTimes(aRecs), 50)
	fifo := time.Duration(float64(ahead+o.BJobs) * float64(aRun) / float64(capacity))
	rep.show("first in, first out it would be", fmt.Sprintf("%s (%d of A's jobs queued ahead)", secs(fifo), ahead))
	var starts []time.Duration
	for _, r := range bRecs {
		if _, started, _ := r.Times(); !started.IsZero() {
			starts = append(starts, started.Sub(bFirst))
		}
	}
	slices.Sort(starts)
	rep.show("B's jobs started after", durations(starts))
	rep.show("running at once while B ran", fmt.Sprintf("A %.1f, B %.1f of %d", busy(aRecs, bFirst, bLast), busy(bRecs, bFirst, bLast), capacity))
	// Once B has gone, A gets the lane back: its average over the watch,
	// and over the watch's second half.
	after := busy(aRecs, bLast, bLast.Add(o.Watch))
	late := busy(aRecs, bLast.Add(o.Watch/2), bLast.Add(o.Watch))
	rep.figure("A running at once after B ended", fmt.Sprintf("%.1f, then %.1f", after, late),
		fmt.Sprintf("≥ %d in the last %s", capacity-1, o.Watch/2), late >= float64(capacity-1))
	rep.show("jobs sent back to wait", fmt.Sprintf("%d while B ran, %d in the %s after",
		sentBack.between(bFirst, bLast), sentBack.between(bLast, bLast.Add(o.Watch)), o.Watch))
	rep.figure("B's jobs succeeded", fmt.Sprintf("%d of %d", countStatus(bRecs)[string(jobs.StatusSucceeded)], o.BJobs),
		fmt.Sprintf("%d of %d", o.BJobs, o.BJobs), countStatus(bRecs)[string(jobs.StatusSucceeded)] == o.BJobs)
	return rep, nil
}

// sentBackLog records when the worker sent a job's message back to wait
// (a send with a delay: its owner's fair share, the pace, no seat, a
// throttle, a seat given back, a deadline), and the jobs sent back
// displaced (jobs.Message.Displaced).
type sentBackLog struct {
	mu        sync.Mutex
	times     []time.Time
	displaced map[string]int // job id → the most times displaced its messages said
}

func (l *sentBackLog) middleware() func(*middleware.Stack) error {
	return awscount.New(func(c awscount.Call) {
		in, ok := c.Input.(*sqs.SendMessageInput)
		if !ok || c.Err != nil || in.DelaySeconds <= 0 {
			return
		}
		var m jobs.Message
		_ = json.Unmarshal([]byte(aws.ToString(in.MessageBody)), &m)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.times = append(l.times, time.Now())
		if m.Displaced > 0 {
			if l.displaced == nil {
				l.displaced = map[string]int{}
			}
			l.displaced[m.JobID] = max(l.displaced[m.JobID], m.Displaced)
		}
	}).Middleware
}

// displacedJobs is each job sent back displaced, with the most times its
// messages said it was.
func (l *sentBackLog) displacedJobs() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.displaced)
}

// all counts every send.
func (l *sentBackLog) all() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.times)
}

// between counts the sends from from to to.
func (l *sentBackLog) between(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, t := range l.times {
		if !t.Before(from) && !t.After(to) {
			n++
		}
	}
	return n
}

// QuotaOptions configure [MeasureQuotaUse].
type QuotaOptions struct {
	Stack           StackOptions
	Jobs, Users     int     // the backlog, shared evenly by the users
	MaxConcurrent   int     // the local model's calls at once (PROMPTQ_LOCAL_MAX_CONCURRENT)
	TokensPerMinute int     // its quota (PROMPTQ_LOCAL_TOKENS_PER_MINUTE)
	PacerTPM        int     // the workers' setting (PROMPTQ_MODEL_TOKENS_PER_MINUTE); 0: TokensPerMinute
	TokensPerSecond float64 // the model's pace (PROMPTQ_LOCAL_TOKENS_PER_SECOND)
	MaxTokens       int     // every job's max_tokens
	MinUse          float64 // target share of the quota used while the backlog lasts
	MaxThrottled    float64 // target share of the model's calls throttled
	Timeout         time.Duration
}

// MeasureQuotaUse runs a backlog against the local model with a quota and
// measures the share of its tokens per minute the backlog used, the calls
// it throttled, and what failed or went to the dead-letter queue.
//
// The quota used is counted as Bedrock counts it once a call ends: its
// input plus output tokens, in the minute it started. While the backlog
// lasts is from the first job's start to the last one's.
func MeasureQuotaUse(ctx context.Context, o QuotaOptions) (*LaneReport, error) {
	rep := &LaneReport{Scenario: fmt.Sprintf("quota use: %d jobs from %s against a model of %d calls at once and %d tokens a minute",
		o.Jobs, plural(o.Users, "user"), o.MaxConcurrent, o.TokensPerMinute)}
	env := map[string]string{
		"PROMPTQ_LOCAL_MAX_CONCURRENT":    strconv.Itoa(o.MaxConcurrent),
		"PROMPTQ_LOCAL_TOKENS_PER_MINUTE": strconv.Itoa(o.TokensPerMinute),
		"PROMPTQ_LOCAL_TOKENS_PER_SECOND": strconv.FormatFloat(o.TokensPerSecond, 'f', -1, 64),
	}
	if o.PacerTPM > 0 {
		env["PROMPTQ_MODEL_TOKENS_PER_MINUTE"] = strconv.Itoa(o.PacerTPM)
	}
	st, calls, sentBack, err := startWatched(ctx, o.Stack, env)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	q := st.Config.Quota
	rep.note("workers: %d generations at once, paced to %d tokens a minute; model: %g words/s, max_tokens %d",
		q.Concurrency, q.TokensPerMinute, o.TokensPerSecond, o.MaxTokens)

	recs, err := runBacklog(ctx, st, rep, "quota", o.Users, o.Jobs, o.MaxTokens, o.Timeout)
	if err != nil {
		return nil, err
	}
	total := len(recs)
	use, minutes := quotaUse(recs, o.TokensPerMinute)
	first, last := span(recs)
	rep.note("all ended %s after the first was queued (%.1f jobs/s)", secs(last.Sub(first)), float64(total)/last.Sub(first).Seconds())
	rep.figure("quota used while the backlog lasted", fmt.Sprintf("%.1f%%", 100*use), fmt.Sprintf("≥ %.0f%%", 100*o.MinUse), use >= o.MinUse)
	rep.show("each minute (of the quota)", minutes)
	outcomes := calls.Outcomes()
	n, throttled := 0, outcomes[string(jobs.KindRateLimited)]
	for _, v := range outcomes {
		n += v
	}
	share := float64(throttled) / float64(max(n, 1))
	rep.figure("model calls throttled", fmt.Sprintf("%.1f%% (%d of %d)", 100*share, throttled, n), fmt.Sprintf("≤ %.0f%%", 100*o.MaxThrottled), share <= o.MaxThrottled)
	rep.show("jobs sent back to wait", fmt.Sprintf("%d (fair share, pace or throttle)", sentBack.between(first, last)))
	rep.show("jobs succeeded", strconv.Itoa(countStatus(recs)[string(jobs.StatusSucceeded)]))
	return rep, finalChecks(ctx, st, rep, recs)
}

// startWatched starts a dev stack with env (and the per-user limits off)
// whose model calls and messages sent back are counted.
func startWatched(ctx context.Context, so StackOptions, env map[string]string) (*Stack, *ModelCalls, *sentBackLog, error) {
	calls, sentBack := NewModelCalls(nil), &sentBackLog{}
	so.Env = withEnv(so.Env, withEnv(env, noUserLimits))
	so.Hooks.Model = calls.Wrap
	so.Hooks.AWS = append(so.Hooks.AWS, sentBack.middleware())
	st, err := StartStack(ctx, so)
	return st, calls, sentBack, err
}

// runBacklog signs up users, has them queue jobs bulk jobs between them
// (as many each, max_tokens maxTokens) at once, and waits up to timeout
// for every job to end; it returns their records.
func runBacklog(ctx context.Context, st *Stack, rep *LaneReport, prefix string, users, jobs, maxTokens int, timeout time.Duration) ([]JobRecord, error) {
	us, err := SignUpUsers(ctx, st.Info, prefix, users, 4)
	if err != nil {
		return nil, err
	}
	c := NewClient(st.Info.APIURL, users+4)
	run := runID(prefix)
	t0 := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for u, user := range us {
		g.Go(func() error {
			_, err := submitBulk(gctx, c, run, u, user, jobs/users, maxTokens)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("queue the backlog: %w", err)
	}
	total := jobs / users * users
	rep.note("%d jobs queued in %s", total, secs(time.Since(t0)))
	byOwner, err := waitJobs(ctx, st, us, 2*time.Second, timeout, func(m map[string][]JobRecord) bool {
		n := 0
		for _, u := range us {
			if !allTerminal(m[u.Sub]) {
				return false
			}
			n += len(m[u.Sub])
		}
		return n == total
	})
	if err != nil {
		return nil, err
	}
	var recs []JobRecord
	for _, u := range us {
		recs = append(recs, byOwner[u.Sub]...)
	}
	return recs, nil
}

// quotaUse is the share of tpm the records used from the first one's
// start to the last one's: the input plus output tokens of the jobs that
// started in that time over tpm a minute of it. It also lists each whole
// minute's share, "91% 90% ...".
func quotaUse(recs []JobRecord, tpm int) (float64, string) {
	type start struct {
		at     time.Time
		tokens int
	}
	var starts []start
	for _, r := range recs {
		if _, started, _ := r.Times(); !started.IsZero() {
			starts = append(starts, start{started, r.InputTokens + r.OutputTokens})
		}
	}
	if len(starts) < 2 || tpm <= 0 {
		return 0, ""
	}
	slices.SortFunc(starts, func(a, b start) int { return a.at.Compare(b.at) })
	from, to := starts[0].at, starts[len(starts)-1].at
	used := 0
	perMinute := map[int]int{}
	for _, s := range starts[:len(starts)-1] { // [from, to)
		used += s.tokens
		perMinute[int(s.at.Sub(from)/time.Minute)] += s.tokens
	}
	share := float64(used) / (float64(tpm) * to.Sub(from).Minutes())
	whole := int(to.Sub(from) / time.Minute)
	list := ""
	for m := range whole {
		list += fmt.Sprintf("%.0f%% ", 100*float64(perMinute[m])/float64(tpm))
	}
	if list == "" {
		list = "(less than a minute)"
	}
	return share, list
}

// AmplifyOptions configure [MeasureAmplification].
type AmplifyOptions struct {
	Stack   StackOptions
	Entries int // identical entries in one POST /generate/batch
	Replays int // replays of one queued job
}

// MeasureAmplification counts the queue messages that repeated
// submissions send, with no worker taking them (devstack.Hooks
// ExternalWorker): Entries identical entries in one batch call; a job and
// Replays replays of it, moments after it was queued; and Replays more at
// once, once the job has gone unclaimed longer than the API's resend
// threshold (the job's sent_at set back, as if it had). Messages are
// counted as the API sends them, and again in the queues at the end.
func MeasureAmplification(ctx context.Context, o AmplifyOptions) (*LaneReport, error) {
	rep := &LaneReport{Scenario: fmt.Sprintf("amplification: %d identical batch entries, %d replays of a queued job", o.Entries, o.Replays)}
	var sent atomic.Int64
	counter := awscount.New(func(c awscount.Call) {
		if c.Err != nil {
			return
		}
		switch out := c.Output.(type) {
		case *sqs.SendMessageOutput:
			sent.Add(1)
		case *sqs.SendMessageBatchOutput:
			sent.Add(int64(len(out.Successful)))
		}
	})
	so := o.Stack
	so.Hooks = devstack.Hooks{AWS: []func(*middleware.Stack) error{counter.Middleware}, ExternalWorker: true}
	st, err := StartStack(ctx, so)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rep.note("no worker: every message the API sends stays in its queue")
	users, err := SignUpUsers(ctx, st.Info, "amplify", 1, 1)
	if err != nil {
		return nil, err
	}
	u := users[0]
	c := NewClient(st.Info.APIURL, 8)
	run := runID("amp")

	// 1. One batch call with the same entry Entries times.
	before := sent.Load()
	entry := BatchEntry{Prompt: Prompt(Key(run, 0, 0), 0, 0), IdempotencyKey: Key(run, 0, 0), MaxTokens: 50}
	entries := slices.Repeat([]BatchEntry{entry}, o.Entries)
	results, err := batchRetrying(ctx, c, u.Token, entries)
	if err != nil {
		return nil, err
	}
	distinct := map[string]bool{}
	for _, r := range results {
		distinct[r.JobID] = true
	}
	msgs := sent.Load() - before
	rep.figure(fmt.Sprintf("%d identical entries: jobs", o.Entries), strconv.Itoa(len(distinct)), "1", len(distinct) == 1)
	rep.figure(fmt.Sprintf("%d identical entries: messages", o.Entries), strconv.FormatInt(msgs, 10), "1", msgs == 1)

	// 2. A job, then Replays replays of it while it is queued.
	before = sent.Load()
	key := Key(run, 0, 1)
	req := GenerateRequest{Prompt: Prompt(key, 0, 1), MaxTokens: 50}
	id, err := generateOne(ctx, c, u, key, req)
	if err != nil {
		return nil, err
	}
	same, err := replay(ctx, c, u, key, req, id, o.Replays)
	if err != nil {
		return nil, err
	}
	msgs = sent.Load() - before
	rep.figure(fmt.Sprintf("a job and %d replays: messages", o.Replays), strconv.FormatInt(msgs, 10), "1", msgs == 1 && same == o.Replays)

	// 3. The same job, unclaimed for longer than the threshold, its
	// message still waiting in its lane's queue (no worker free): Replays
	// more at once send nothing, since its message is among those
	// waiting.
	unclaimed := submitting.DefaultResendAfter + time.Minute
	if err := ageSentAt(ctx, st, u, id, unclaimed); err != nil {
		return nil, err
	}
	before = sent.Load()
	if same, err = replay(ctx, c, u, key, req, id, o.Replays); err != nil {
		return nil, err
	}
	msgs = sent.Load() - before
	rep.figure(fmt.Sprintf("%d replays after %s unclaimed, its message waiting: messages", o.Replays, unclaimed), strconv.FormatInt(msgs, 10), "0", msgs == 0 && same == o.Replays)

	// 4. Its message lost (the queues drained without a claim), the
	// lane's queue empty: Replays more at once send it again once.
	queued, err := drain(ctx, st)
	if err != nil {
		return nil, err
	}
	before = sent.Load()
	if same, err = replay(ctx, c, u, key, req, id, o.Replays); err != nil {
		return nil, err
	}
	msgs = sent.Load() - before
	rep.figure(fmt.Sprintf("%d replays after its message was lost: messages", o.Replays), strconv.FormatInt(msgs, 10), "1", msgs == 1 && same == o.Replays)

	left, err := drain(ctx, st)
	if err != nil {
		return nil, err
	}
	queued += left
	rep.figure("messages in the queues", strconv.Itoa(queued), strconv.FormatInt(sent.Load(), 10)+", as sent", int64(queued) == sent.Load())
	return rep, nil
}

// replay sends n replays of key at once (as many as the API's per-user
// request rate lets through; a 429 is retried after its Retry-After) and
// counts the answers naming id.
func replay(ctx context.Context, c *Client, u User, key string, req GenerateRequest, id string, n int) (int, error) {
	var same atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range n {
		g.Go(func() error {
			res, a, _, err := generateRetrying(gctx, c, 2*time.Minute, u.Token, key, req)
			if err != nil {
				return err
			}
			if res.Status != http.StatusAccepted {
				return fmt.Errorf("replay: status %d: %s", res.Status, res.Body)
			}
			if a.JobID == id && res.Header.Get("Idempotent-Replayed") == "true" {
				same.Add(1)
			}
			return nil
		})
	}
	err := g.Wait()
	return int(same.Load()), err
}

// ageSentAt sets the job's sent_at back by d, as if its message had been
// sent that long ago and no worker had taken it since.
func ageSentAt(ctx context.Context, st *Stack, u User, id string, d time.Duration) error {
	_, err := st.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Info.TableName),
		Key: map[string]dbtypes.AttributeValue{
			jobstable.PartitionKey: &dbtypes.AttributeValueMemberS{Value: jobstable.UserKey(u.Sub)},
			jobstable.SortKey:      &dbtypes.AttributeValueMemberS{Value: jobstable.JobKey(id)},
		},
		UpdateExpression:          aws.String("SET sent_at = :t"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":t": &dbtypes.AttributeValueMemberS{Value: time.Now().Add(-d).UTC().Format(time.RFC3339Nano)}},
	})
	if err != nil {
		return fmt.Errorf("set back the job's sent_at: %w", err)
	}
	return nil
}

// drain receives every message of the lanes' queues and counts them.
func drain(ctx context.Context, st *Stack) (int, error) {
	client := standin.SQS(st.Info.SQSEndpoint)
	n := 0
	for _, url := range st.Info.QueueURLs {
		for {
			out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
				QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 600,
			})
			if err != nil {
				return n, fmt.Errorf("receive from %s: %w", url, err)
			}
			if len(out.Messages) == 0 {
				break
			}
			n += len(out.Messages)
		}
	}
	return n, nil
}

// plural says n things: "1 user", "4 users".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
