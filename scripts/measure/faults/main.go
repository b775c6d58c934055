// Command faults puts promptq's dev stack through faults while users
// submit jobs, and checks afterwards that every accepted job ended, with
// one model call per attempt and every attempt explained by the worker's
// log:
//
//	go run ./scripts/measure/faults                          # every scenario, one after another
//	go run ./scripts/measure/faults -scenario worker-kill    # one of them
//
// The scenarios:
//
//	worker-kill    the worker process is killed (SIGKILL) mid-batch and a new
//	               one started, as when a Lambda instance dies; the API, the
//	               queue and the table carry on.
//	store-restart  kumo, the DynamoDB and SQS stand-in, is stopped mid-batch
//	               (SIGTERM, so it saves its data; -kumo-signal KILL for a crash);
//	               the dev runner stops with it and is started again on the same
//	               data and ports; the worker carries on.
//	store-pause    kumo is frozen (SIGSTOP) for -pause, then resumed: DynamoDB
//	               and SQS stop answering without losing anything.
//	throttle       for a minute, every other model call fails with a throttling
//	               error, as Bedrock's ThrottlingException.
//	lost-answer    DynamoDB commits some job-creating transactions but answers too
//	               late for the API function (after its deadline, here 3 s), so
//	               the client is told 5xx and submits again with the same key.
//
// The dev stack's rescuer (internal/rescue) runs every 10 s with
// PROMPTQ_RESCUE_AFTER 2m (more than the 90 s visibility timeout and the
// 80 s longest backoff these runs reach); the jobs it rescued are listed.
//
// Each scenario starts its own dev stack (internal/dev/devstack, the code of
// `make dev`) in this process, with a temporary dir and free ports on
// 127.0.0.1 and the local model, and the worker (as the dev stack builds
// it) in a child process. The worker's timeout is 15 s (the queue's
// visibility timeout 90 s) instead of 5 minutes, so that messages a killed
// worker held come back within the run; everything else is as deployed.
// See docs/reliability.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/measure/loadtest"
)

func main() {
	switch {
	case devstack.IsChild():
		os.Exit(devstack.Main(nil, os.Stdout, os.Stderr))
	case os.Getenv(roleEnv) == roleWorker:
		os.Exit(workerChild(os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "faults: %v\n", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

var scenarios = []string{"worker-kill", "store-restart", "store-pause", "throttle", "lost-answer"}

type options struct {
	users, jobsPerUser int
	spread, timeout    time.Duration
	throttle, pause    time.Duration
	trigger            float64
	kumoSignal         syscall.Signal
	keep               bool
}

func run(ctx context.Context, args []string, stdout io.Writer) (bool, error) {
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	scenario := fs.String("scenario", "all", strings.Join(scenarios, ", ")+", or all")
	o := options{}
	fs.IntVar(&o.users, "users", 20, "users submitting")
	fs.IntVar(&o.jobsPerUser, "jobs-per-user", 15, "jobs each user submits")
	fs.DurationVar(&o.spread, "spread", 20*time.Second, "each user's submissions are spread over this long")
	fs.DurationVar(&o.timeout, "timeout", 6*time.Minute, "give up waiting for the jobs after this long (per scenario)")
	fs.DurationVar(&o.throttle, "throttle-for", time.Minute, "how long the throttle scenario throttles")
	fs.DurationVar(&o.pause, "pause", 30*time.Second, "how long store-pause freezes kumo")
	fs.Float64Var(&o.trigger, "at", 0.25, "start the fault once the model has been called for this share of the jobs")
	kumoSig := fs.String("kumo-signal", "TERM", "how store-restart stops kumo: TERM (it saves its data) or KILL")
	fs.BoolVar(&o.keep, "keep", false, "keep each scenario's dir (data, logs, model calls)")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	switch *kumoSig {
	case "TERM":
		o.kumoSignal = syscall.SIGTERM
	case "KILL":
		o.kumoSignal = syscall.SIGKILL
	default:
		return false, fmt.Errorf("-kumo-signal %q: want TERM or KILL", *kumoSig)
	}
	names := scenarios
	if *scenario != "all" {
		if !slices.Contains(scenarios, *scenario) {
			return false, fmt.Errorf("-scenario %q: want one of %s or all", *scenario, strings.Join(scenarios, ", "))
		}
		names = []string{*scenario}
	}
	allOK := true
	for _, name := range names {
		ok, err := runScenario(ctx, name, o, stdout)
		if err != nil {
			return false, fmt.Errorf("%s: %w", name, err)
		}
		allOK = allOK && ok
	}
	return allOK, nil
}

// stackEnv is the dev stack's and the worker's environment in a scenario.
func stackEnv(ports []int, throttle time.Duration) map[string]string {
	return map[string]string{
		"PROMPTQ_DEV_WEB_PORT":            strconv.Itoa(ports[0]),
		"PROMPTQ_DEV_API_PORT":            strconv.Itoa(ports[1]),
		"PROMPTQ_DEV_AWS_PORT":            strconv.Itoa(ports[2]),
		"PROMPTQ_DEV_COGNITO_PORT":        strconv.Itoa(ports[3]),
		"PROMPTQ_MODEL_PROVIDER":          "local",
		"PROMPTQ_LOCAL_TOKENS_PER_SECOND": "100",
		"PROMPTQ_LOCAL_LATENCY":           "100ms",
		"PROMPTQ_DEV_WORKER_TIMEOUT":      "15s",
		"PROMPTQ_DEV_POLL_WAIT":           "2s",
		"PROMPTQ_RESCUE_AFTER":            "2m",
		"PROMPTQ_DEV_RESCUE_EVERY":        "10s",
		throttleEnv:                       throttle.String(),
	}
}

func runScenario(ctx context.Context, name string, o options, stdout io.Writer) (bool, error) {
	fmt.Fprintf(stdout, "\n== %s ==\n", name)
	dir, err := os.MkdirTemp("", "promptq-faults-"+name+"-")
	if err != nil {
		return false, err
	}
	if o.keep {
		fmt.Fprintf(stdout, "dir: %s (kept)\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ports, err := freePorts(4)
	if err != nil {
		return false, err
	}
	env := stackEnv(ports, o.throttle)
	lost := &lostAnswers{}
	hooks := devstack.Hooks{ExternalWorker: true}
	if name == "lost-answer" {
		hooks.AWS = append(hooks.AWS, lost.middleware)
		env["PROMPTQ_DEV_API_TIMEOUT"] = "3s"
	}

	// The stack, in this process, with no worker of its own.
	stackStarts := 0
	startStack := func() (*loadtest.Stack, error) {
		stackStarts++
		logs, err := os.OpenFile(stackLogPath(dir, stackStarts), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		st, err := loadtest.StartStack(ctx, loadtest.StackOptions{
			Dir: dir, Env: env, Log: logs, Hooks: hooks,
		})
		if err != nil {
			_ = logs.Close()
			return nil, err
		}
		return st, nil
	}
	st, err := startStack()
	if err != nil {
		return false, err
	}
	defer func() { _ = st.Close() }()

	// The worker, in a child process.
	var childEnv []string
	for k, v := range env {
		childEnv = append(childEnv, k+"="+v)
	}
	wp := &workerProcess{dir: dir, out: stdout, env: childEnv}
	defer wp.stop(syscall.SIGTERM)
	if err := wp.start(ctx); err != nil {
		return false, err
	}

	users, err := loadtest.SignUpUsers(ctx, st.Info, "faults", o.users, 4)
	if err != nil {
		return false, err
	}
	client := loadtest.NewClient(st.Info.APIURL, 2*o.users)
	plan := loadtest.Plan{
		Run: name, Users: users, JobsPerUser: o.jobsPerUser, InFlight: 1,
		Spread: o.spread, Replays: 0.1, Poll: loadtest.PollList,
		SubmitFor: 3 * time.Minute, Wait: o.timeout,
	}
	jobs := o.users * o.jobsPerUser
	fmt.Fprintf(stdout, "%d users × %d jobs over %s; the fault comes after %.0f model calls\n",
		o.users, o.jobsPerUser, o.spread, o.trigger*float64(jobs))
	type result struct {
		o   *loadtest.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := loadtest.Run(ctx, client, plan)
		done <- result{out, err}
	}()

	// Wait for the trigger, then fault.
	callsPath := modelCallsPath(dir)
	for {
		n, _ := countCalls(callsPath)
		if float64(n) >= o.trigger*float64(jobs) {
			break
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	faultAt := time.Now()
	killed := map[string]bool{}
	n, open := countCalls(callsPath)
	switch name {
	case "worker-kill":
		killed[workerLogPath(dir, wp.starts)] = true
		wp.stop(syscall.SIGKILL)
		fmt.Fprintf(stdout, "fault: SIGKILL to the worker after %d model calls, %d of them still generating\n", n, open)
		if err := wp.start(ctx); err != nil {
			return false, err
		}
		fmt.Fprintf(stdout, "fault: a new worker polls %.1f s later\n", time.Since(faultAt).Seconds())
	case "store-restart":
		if err := syscall.Kill(st.Info.Processes["kumo"], o.kumoSignal); err != nil {
			return false, fmt.Errorf("signal kumo: %w", err)
		}
		fmt.Fprintf(stdout, "fault: %v to kumo (DynamoDB and SQS) after %d model calls, %d of them still generating\n", o.kumoSignal, n, open)
		select {
		case <-st.Done():
		case <-time.After(time.Minute):
			return false, errors.New("the dev runner did not notice kumo stop")
		}
		fmt.Fprintf(stdout, "fault: the dev runner stops: %v\n", st.Err())
		_ = st.Close()
		if st, err = startStack(); err != nil {
			return false, err
		}
		fmt.Fprintf(stdout, "fault: dev runner and kumo started again on the same data and ports %.1f s after the fault\n", time.Since(faultAt).Seconds())
	case "store-pause":
		kumo := st.Info.Processes["kumo"]
		if err := syscall.Kill(kumo, syscall.SIGSTOP); err != nil {
			return false, fmt.Errorf("stop kumo: %w", err)
		}
		fmt.Fprintf(stdout, "fault: SIGSTOP to kumo after %d model calls, %d of them still generating; SIGCONT in %s\n", n, open, o.pause)
		select {
		case <-ctx.Done():
		case <-time.After(o.pause):
		}
		if err := syscall.Kill(kumo, syscall.SIGCONT); err != nil {
			return false, fmt.Errorf("resume kumo: %w", err)
		}
	case "throttle":
		if err := wp.signal(syscall.SIGUSR1); err != nil {
			return false, err
		}
	case "lost-answer":
		lost.arm(10, 3)
		fmt.Fprintln(stdout, "fault: the answers of the next 10 job-creating transactions (one in 3) come after the API's deadline")
	}

	res := <-done
	if res.err != nil {
		return false, res.err
	}
	out := res.o
	fmt.Fprintf(stdout, "load: ended %.1f s after the fault (%.1f s in all); %d accepted jobs unfinished when polling stopped\n",
		out.End.Sub(faultAt).Seconds(), out.End.Sub(out.Start).Seconds(), len(out.Unfinished()))
	for _, s := range client.Latencies.Summaries() {
		fmt.Fprintf(stdout, "  %-16s %5d calls  %s\n", s.Route, s.Calls, loadtest.StatusString(s.Statuses))
	}

	// Check, with the stack still up: the table, the model calls, the logs.
	recs, err := loadtest.ReadJobs(ctx, st.DB, st.Info.TableName, users)
	if err != nil {
		return false, err
	}
	callLog, err := loadtest.ReadModelCalls(callsPath)
	if err != nil {
		return false, err
	}
	calls := callLog.Calls
	var logs []string
	for i := 1; i <= wp.starts; i++ {
		logs = append(logs, workerLogPath(dir, i))
	}
	attempts, err := loadtest.ReadAttempts(logs...)
	if err != nil {
		return false, err
	}
	rep := loadtest.Check(out, users, recs, calls)
	rep.Write(stdout)
	fmt.Fprintf(stdout, "model calls by result: %v; never returned (their process was killed): %d\n", callLog.Results, sum(callLog.Unended))
	if ids := lost.lostJobs(); len(ids) > 0 {
		fmt.Fprintf(stdout, "created jobs whose answer was lost: %d\n", len(ids))
		for _, id := range ids {
			for _, s := range out.Accepted() {
				if s.JobID == id {
					fmt.Fprintf(stdout, "  %s %s: POST /generate called %d times, 202 with Idempotent-Replayed %v; last seen %s\n", s.Key, id, s.Calls, s.FirstReplayed, s.Final)
				}
			}
		}
	}
	var stackLogs []string
	for i := 1; i <= stackStarts; i++ {
		stackLogs = append(stackLogs, stackLogPath(dir, i))
	}
	rescues, err := readRescues(stackLogs...)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(stdout, "rescuer: %d jobs rescued\n", len(rescues))
	for _, r := range rescues {
		fmt.Fprintf(stdout, "  %s %s (%s at attempt %d, idle %s)\n", r.JobID, r.Msg, r.Status, r.Attempts, r.Idle)
	}
	ok := explain(stdout, out, recs, calls, attempts, killed)
	ok = rep.OK() && ok
	if ok {
		fmt.Fprintf(stdout, "%s: OK: every accepted job ended, once; model calls = attempts = claims in the log, each explained\n", name)
	} else {
		fmt.Fprintf(stdout, "%s: FAILED: see above\n", name)
	}
	return ok, nil
}

// explain prints how the jobs' attempts went, from the worker's log, and
// reports whether every job's model calls match its claims in the log and
// every attempt without an outcome was in a worker that was killed. Jobs
// not terminal get their story printed.
func explain(w io.Writer, out *loadtest.Outcome, recs map[string][]loadtest.JobRecord, calls map[string]int, attempts map[string][]loadtest.Attempt, killed map[string]bool) bool {
	status := map[string]string{}
	for _, rs := range recs {
		for _, r := range rs {
			status[r.ID] = r.Status
		}
	}
	stories := map[string]int{}
	var unexplained, unfinished []string
	for _, s := range out.Accepted() {
		as := attempts[s.JobID]
		story := loadtest.Story(as) + " ⇒ " + status[s.JobID]
		stories[story]++
		if !jobs.Status(status[s.JobID]).Terminal() {
			unfinished = append(unfinished, fmt.Sprintf("%s %s: %s", s.Key, s.JobID, story))
		}
		if len(as) != calls[s.Key] {
			unexplained = append(unexplained, fmt.Sprintf("%s: %d model calls, %d claims in the log", s.Key, calls[s.Key], len(as)))
		}
		for _, a := range as {
			if a.Outcome == "" && !killed[a.Log] {
				unexplained = append(unexplained, fmt.Sprintf("%s: attempt %d has no outcome in %s, whose worker was not killed", s.Key, a.Number, a.Log))
			}
		}
	}
	fmt.Fprintln(w, "jobs by what the worker's log says of each attempt ⇒ status in the table:")
	keys := slices.SortedFunc(maps.Keys(stories), func(a, b string) int {
		if stories[a] != stories[b] {
			return stories[b] - stories[a]
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		fmt.Fprintf(w, "  %5d  %s\n", stories[k], k)
	}
	for _, l := range []struct {
		name  string
		items []string
	}{{"unfinished", unfinished}, {"unexplained", unexplained}} {
		for i, it := range l.items {
			if i == 10 {
				fmt.Fprintf(w, "  %s: ... %d more\n", l.name, len(l.items)-10)
				break
			}
			fmt.Fprintf(w, "  %s: %s\n", l.name, it)
		}
	}
	return len(unexplained) == 0
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
