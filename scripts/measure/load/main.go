// Command load submits many jobs from many users at once to a dev stack of
// its own and checks that every accepted job ends, once:
//
//	go run ./scripts/measure/load                      # 1,000 jobs from 50 users
//	go run ./scripts/measure/load -users 10 -jobs 100  # a quick one
//
// It starts the dev stack's code (internal/dev/devstack, as `make dev` runs
// it) in this process, on free ports of 127.0.0.1 with its data in a
// temporary dir, with the local model at a fast pace. Users are created in
// its cognito-local pool. Every user submits its share of the jobs with
// idempotency keys, sends some a second time with the same key (as a
// client that lost an answer would), and lists its jobs until they have
// all ended. Then it reads the jobs table and compares it with what the
// clients were told and with the model's calls.
//
// It prints the latency of every API route (p50, p90, p99, max), the
// throughput, and the check; it exits 1 if a job was lost, left
// unfinished, duplicated, or called more or less often than attempted.
// See docs/reliability.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/measure/loadtest"
)

func main() {
	if devstack.IsChild() {
		os.Exit(devstack.Main(nil, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) (bool, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	users := fs.Int("users", 50, "users submitting at once")
	total := fs.Int("jobs", 1000, "jobs in all, shared evenly by the users")
	inFlight := fs.Int("in-flight", 2, "submissions each user has in flight at once")
	replays := fs.Float64("replays", 0.1, "share of accepted jobs submitted again with the same idempotency key")
	tps := fs.Float64("tokens-per-second", 2000, "the local model's pace (words per second)")
	latency := fs.Duration("model-latency", 20*time.Millisecond, "the local model's time to first word")
	poll := fs.String("poll", "list", "how users watch their jobs: list (GET /jobs every second) or each (GET /jobs/{id} as Retry-After says)")
	wait := fs.Duration("timeout", 10*time.Minute, "give up waiting for the jobs after this long")
	logPath := fs.String("log", "", "write the stack's logs (JSON lines) here; default: none")
	dir := fs.String("dir", "", "the dev stack's dir, kept afterwards (default: a temporary dir, removed)")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if *users < 1 || *total < *users {
		return false, fmt.Errorf("want at least one user and one job per user")
	}
	mode := loadtest.PollList
	switch *poll {
	case "list":
	case "each":
		mode = loadtest.PollEach
	default:
		return false, fmt.Errorf("-poll %q: want list or each", *poll)
	}

	var logOut io.Writer
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			return false, err
		}
		defer f.Close()
		logOut = f
	}
	calls := loadtest.NewModelCalls(nil)
	fmt.Fprintf(stdout, "load: starting a dev stack (local model at %g words/s after %s)\n", *tps, *latency)
	st, err := loadtest.StartStack(ctx, loadtest.StackOptions{
		Env: map[string]string{
			"PROMPTQ_LOCAL_TOKENS_PER_SECOND": strconv.FormatFloat(*tps, 'f', -1, 64),
			"PROMPTQ_LOCAL_LATENCY":           latency.String(),
		},
		Dir:   *dir,
		Hooks: devstack.Hooks{Model: calls.Wrap},
		Log:   logOut,
	})
	if err != nil {
		return false, err
	}
	defer st.Close()
	cfg := st.Config
	lanes := cfg.Quota.Split()
	fmt.Fprintf(stdout, "load: worker as the stack: one job an invocation, %d interactive and %d bulk at once; API %s; data %s\n",
		lanes.Interactive, lanes.Bulk, st.Info.APIURL, filepath.Dir(st.Info.DataDir))

	t0 := time.Now()
	us, err := loadtest.SignUpUsers(ctx, st.Info, "load", *users, 4)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(stdout, "load: %d users signed up and logged in (%.1f s)\n", len(us), time.Since(t0).Seconds())

	client := loadtest.NewClient(st.Info.APIURL, *users**inFlight+*users)
	plan := loadtest.Plan{
		Run:         "load" + strconv.FormatInt(time.Now().Unix()%100000, 10),
		Users:       us,
		JobsPerUser: *total / *users,
		InFlight:    *inFlight,
		Replays:     *replays,
		Poll:        mode,
		Wait:        *wait,
	}
	fmt.Fprintf(stdout, "load: %d users × %d jobs, %d in flight per user, %.0f%% replayed; polling: %s\n",
		len(us), plan.JobsPerUser, plan.InFlight, 100**replays, *poll)
	o, err := loadtest.Run(ctx, client, plan)
	if err != nil {
		return false, err
	}
	printLatencies(stdout, client.Latencies.Summaries())
	accepted := o.Accepted()
	var last time.Time
	for _, s := range accepted {
		if s.TerminalAt.After(last) {
			last = s.TerminalAt
		}
	}
	fmt.Fprintf(stdout, "submissions: %d accepted in %.1f s (%.0f/s)\n",
		len(accepted), o.SubmitEnd.Sub(o.Start).Seconds(), float64(len(accepted))/o.SubmitEnd.Sub(o.Start).Seconds())
	if !last.IsZero() {
		fmt.Fprintf(stdout, "all seen terminal by polling %.1f s after the first submission (%.1f jobs/s end to end)\n",
			last.Sub(o.Start).Seconds(), float64(len(accepted))/last.Sub(o.Start).Seconds())
	}
	fmt.Fprintf(stdout, "model calls by outcome: %v\n", calls.Outcomes())

	jobs, err := loadtest.ReadJobs(ctx, st.DB, st.Info.TableName, us)
	if err != nil {
		return false, err
	}
	rep := loadtest.Check(o, us, jobs, calls.Counts())
	rep.Write(stdout)
	if rep.OK() {
		fmt.Fprintln(stdout, "load: OK: every accepted job ended, once, with one model call per attempt")
	} else {
		fmt.Fprintln(stdout, "load: FAILED: see above")
	}
	return rep.OK(), nil
}

func printLatencies(w io.Writer, ss []loadtest.Summary) {
	fmt.Fprintf(w, "%-16s %7s %8s %8s %8s %8s  %s\n", "route", "calls", "p50 ms", "p90 ms", "p99 ms", "max ms", "statuses")
	for _, s := range ss {
		fmt.Fprintf(w, "%-16s %7d %8s %8s %8s %8s  %s\n", s.Route, s.Calls,
			loadtest.Millis(s.P50), loadtest.Millis(s.P90), loadtest.Millis(s.P99), loadtest.Millis(s.Max),
			loadtest.StatusString(s.Statuses))
	}
}
