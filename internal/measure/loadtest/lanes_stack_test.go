package loadtest

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
)

// TestMain lets the test binary be the dev stack's kumo child too: a stack
// started in-process re-executes its own binary for that.
func TestMain(m *testing.M) {
	if devstack.IsChild() {
		os.Exit(devstack.Main(nil, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// laneStack starts a dev stack whose local model takes about 4 seconds a
// job (max_tokens 40 at 10 tokens a second) with the per-user limits a
// backlog would meet off, and signs up n users. Jobs that take a while
// keep the tests about the order jobs run in, not about how fast the
// machine is: on a first-in-first-out queue (the local stand-in's) a
// newcomer's jobs are reached after one pass through the backlog queued
// before them (received, and sent back when over their owner's share),
// which under -race on a busy machine took over a minute, and a backlog of
// half-second jobs ran most of itself meanwhile.
func laneStack(t *testing.T, n int) (*Stack, []User, *Client) {
	t.Helper()
	standin.RequireTool(t, "node/node_modules/.bin/cognito-local")
	st, err := StartStack(t.Context(), StackOptions{Env: withEnv(map[string]string{
		"PROMPTQ_LOCAL_TOKENS_PER_SECOND": "10",
		"PROMPTQ_LOCAL_LATENCY":           "50ms",
	}, noUserLimits)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	users, err := SignUpUsers(t.Context(), st.Info, "lanes", n, n)
	if err != nil {
		t.Fatal(err)
	}
	return st, users, NewClient(st.Info.APIURL, 8)
}

// done counts the records that ended.
func done(recs []JobRecord) int {
	n := 0
	for _, r := range recs {
		if jobs.Status(r.Status).Terminal() {
			n++
		}
	}
	return n
}

// The worker's fair shares on a queue without fair ordering (the local
// stand-in's): user B's small batch, queued behind user A's backlog, is
// done while most of the backlog still waits. First in, first out, it
// would end after all of it.
func TestASmallBatchIsNotStuckBehindAnotherUsersBacklog(t *testing.T) {
	t.Parallel()
	st, users, c := laneStack(t, 2)
	a, b := users[0], users[1]
	const backlog, small = 400, 10
	if _, err := submitBulk(t.Context(), c, "fair", 0, a, backlog, 40); err != nil {
		t.Fatal(err)
	}
	bIDs, err := submitBulk(t.Context(), c, "fair", 1, b, small, 40)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := waitJobs(t.Context(), st, users, time.Second, 5*time.Minute, func(m map[string][]JobRecord) bool {
		return allTerminal(pick(m[b.Sub], bIDs))
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := countStatus(recs[b.Sub])["succeeded"]; n != small {
		t.Errorf("%d of B's %d jobs succeeded: %v", n, small, countStatus(recs[b.Sub]))
	}
	if n := done(recs[a.Sub]); n > backlog/2 {
		t.Errorf("B's batch ended after %d of A's %d jobs, which were queued first; want it done while most of them wait", n, backlog)
	}
	t0, _ := span(recs[a.Sub])
	t.Logf("B's jobs (created, started, finished), after A's first was queued: %s", timeline(recs[b.Sub], t0))
	t.Logf("A's runs (p50): %s; A's jobs started, every 40th: %s", Percentile(runTimes(recs[a.Sub]), 50), everyNth(recs[a.Sub], t0, 40))
}

// timeline is recs' created, started and finished times after t0.
func timeline(recs []JobRecord, t0 time.Time) string {
	var b strings.Builder
	for _, r := range recs {
		c, s, f := r.Times()
		fmt.Fprintf(&b, " [%s %s %s]", secs(c.Sub(t0)), secs(s.Sub(t0)), secs(f.Sub(t0)))
	}
	return b.String()
}

// everyNth is the start times after t0 of every nth of recs, in order.
func everyNth(recs []JobRecord, t0 time.Time, n int) string {
	var starts []time.Duration
	for _, r := range recs {
		if _, s, _ := r.Times(); !s.IsZero() {
			starts = append(starts, s.Sub(t0))
		}
	}
	slices.Sort(starts)
	var b strings.Builder
	for i := 0; i < len(starts); i += n {
		fmt.Fprintf(&b, " %s", secs(starts[i]))
	}
	return b.String()
}

// An interactive job is not stuck behind a bulk backlog, even its own
// owner's.
func TestAnInteractiveJobIsNotStuckBehindABacklog(t *testing.T) {
	t.Parallel()
	st, users, c := laneStack(t, 2)
	const backlog = 400
	if _, err := submitBulk(t.Context(), c, "wait", 0, users[0], backlog, 40); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, u := range users {
		key := Key("wait", i, 9999)
		id, err := generateOne(t.Context(), c, u, key, GenerateRequest{Prompt: Prompt(key, i, 9999), MaxTokens: 40})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	recs, err := waitJobs(t.Context(), st, users, 250*time.Millisecond, 5*time.Minute, func(m map[string][]JobRecord) bool {
		return allTerminal(pick(m[users[0].Sub], ids[:1])) && allTerminal(pick(m[users[1].Sub], ids[1:]))
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range users {
		if r := pick(recs[u.Sub], ids[i:i+1])[0]; r.Status != "succeeded" || r.Lane != "interactive" {
			t.Errorf("user %d's interactive job: %s on the %q lane", i, r.Status, r.Lane)
		}
	}
	if n := done(recs[users[0].Sub]) - 1; n > backlog/2 {
		t.Errorf("the interactive jobs ended after %d of the %d bulk jobs queued before them", n, backlog)
	}
}

// Repeated submissions of one job send one message: identical entries in
// a batch call, and replays while the job is queued; once it has gone
// unclaimed past the resend threshold, replays at once send one more.
func TestRepeatedSubmissionsSendOneMessage(t *testing.T) {
	t.Parallel()
	standin.RequireTool(t, "node/node_modules/.bin/cognito-local")
	rep, err := MeasureAmplification(t.Context(), AmplifyOptions{Entries: 100, Replays: 20})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		var b strings.Builder
		rep.Write(&b)
		t.Errorf("amplification:\n%s", b.String())
	}
}
