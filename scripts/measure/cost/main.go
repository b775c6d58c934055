// Command cost counts the AWS requests promptq makes per job in an
// end-to-end run on the dev stack and turns them into dollars per 1,000
// jobs at list prices, next to the model's own token cost and next to a
// synchronous design in which the request waits for the model:
//
//	go run ./scripts/measure/cost
//	go run ./scripts/measure/cost -jobs 100 -input-tokens 1000 -output-tokens 300
//
// It starts the dev stack's code (internal/dev/devstack) in this process with
// an SDK middleware (internal/measure/awscount) on every DynamoDB, SQS and Cognito
// client of the API, the worker and its poller, and times every worker
// invocation. The local model writes at -words-per-second after
// -model-latency, so a job takes about as long as the assumed model's
// generation; the run's counts (progress writes, polls) follow from that.
// Two phases: users submitting at a steady rate and polling each job as the
// web app does (GET /jobs/{id} at the pace of its text, never sooner than
// Retry-After: web/js/poller.js; -poll retry-after polls as it did before
// issue 29), then one user submitting 100 jobs in one POST /generate/batch
// and listing them every 2 s, as `scripts/batch --wait` does. The web
// phase also says how live its view was: how long after the model wrote a
// word a poll's answer first had it (shown.go).
//
// The DynamoDB calls that reserve and settle budgets (internal/dynamo's
// budget.go and settle.go) are also shown apart, by kind (budget.go).
//
// What is estimated rather than counted: DynamoDB units (from item sizes;
// kumo returns no ConsumedCapacity), API Lambda time (the client's latency,
// an upper bound on this machine), log bytes of Lambda's platform lines and
// of API Gateway's access log. See docs/benchmarks.md.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/dev/esm"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/measure/awscount"
	"github.com/promptq/promptq/internal/measure/loadtest"
	"github.com/promptq/promptq/internal/worker"
)

// The deployed functions' memory (stack/promptqstack: stack.go, and
// economy.go for the collector and completion functions), and the
// synchronous design's, which the targets compare with: a 256 MB function
// (issue 18's, kept as it was when issue 29 set the targets).
const (
	apiMemoryGB     = 0.5
	workerMemoryGB  = 0.125
	economyMemoryGB = 0.5
	syncMemoryGB    = 0.25
)

// Log bytes Lambda and API Gateway write that the dev stack does not:
// START, END and REPORT lines per invocation, and one access log line per
// request in the stack's format (about 500 bytes filled in).
const (
	platformLogBytes  = 330
	accessLogBytes    = 500
	syncAppLogBytes   = 600 // a synchronous function's own lines per request: an access line and a result line
	syncPlatformBytes = platformLogBytes
)

func main() {
	if devstack.IsChild() {
		os.Exit(devstack.Main(nil, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "cost: %v\n", err)
		os.Exit(1)
	}
}

// batchPhase submits jobs in one POST /generate/batch and lists them every
// 2 s until all have ended, as `scripts/batch --wait` does. It returns how
// many were accepted.
func batchPhase(ctx context.Context, c *loadtest.Client, u loadtest.User, n int, lane string) (float64, error) {
	entries := make([]loadtest.BatchEntry, n)
	for j := range entries {
		// Each lane's phase its own keys: the same keys would replay the
		// other phase's jobs.
		key := loadtest.Key("cost"+cmp.Or(lane, "batch"), 0, j)
		entries[j] = loadtest.BatchEntry{Prompt: loadtest.Prompt(key, 0, j), IdempotencyKey: key}
	}
	res, results, err := c.GenerateBatchOn(ctx, u.Token, lane, entries)
	if err != nil || res.Status != 202 {
		return 0, fmt.Errorf("batch: %d %s %v", res.Status, res.Body, err)
	}
	pending := map[string]bool{}
	for _, r := range results {
		if r.JobID == "" {
			return 0, fmt.Errorf("batch entry refused: %s", r.Error)
		}
		pending[r.JobID] = true
	}
	accepted := len(pending)
	for deadline := time.Now().Add(15 * time.Minute); len(pending) > 0; {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("batch: %d jobs unfinished after 15 minutes", len(pending))
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Second):
		}
		seen, want := 0, len(pending)
		if err := c.List(ctx, u.Token, func(js []loadtest.JobView) bool {
			for _, j := range js {
				if pending[j.JobID] {
					seen++
					if jobs.Status(j.Status).Terminal() {
						delete(pending, j.JobID)
					}
				}
			}
			return seen == want // no further page needed
		}); err != nil {
			return 0, err
		}
	}
	return float64(accepted), nil
}

// meter is what the hooks see.
type meter struct {
	counter  *awscount.Counter
	capacity *awscount.Capacity
	// budget tallies the DynamoDB calls of reservation and settlement
	// apart, by kind (budgetKind), with their estimated units.
	budget *budgetTally
	// live times each word from the model to a poll's answer.
	live *liveness

	mu           sync.Mutex
	emptyRecv    int
	invocations  int
	messages     int
	billedMS     float64 // worker: each invocation's duration, rounded up to the ms
	modelCalls   int
	modelSeconds float64
	logBytes     int
	// The economy lane's functions: invocations that did work and their
	// durations, each rounded up to the ms (devstack.Hooks.Economy).
	economyInvocations int
	economyBilledMS    float64
}

// economy records an economy function's invocation.
func (m *meter) economy(_ string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.economyInvocations++
	m.economyBilledMS += math.Ceil(float64(d) / float64(time.Millisecond))
}

func newMeter() *meter {
	m := &meter{capacity: awscount.NewCapacity(), budget: newBudgetTally(), live: newLiveness()}
	m.counter = awscount.New(m.capacity.Observe, m.budget.observe, func(c awscount.Call) {
		if out, ok := c.Output.(*sqs.ReceiveMessageOutput); ok && len(out.Messages) == 0 {
			m.mu.Lock()
			m.emptyRecv++
			m.mu.Unlock()
		}
	})
	return m
}

func (m *meter) reset() {
	m.counter.Reset()
	m.capacity.Reset()
	m.budget.reset()
	m.live.reset()
	m.mu.Lock()
	m.emptyRecv, m.invocations, m.messages, m.billedMS, m.modelCalls, m.modelSeconds, m.logBytes = 0, 0, 0, 0, 0, 0, 0
	m.economyInvocations, m.economyBilledMS = 0, 0
	m.mu.Unlock()
}

func (m *meter) handler(h esm.Handler) esm.Handler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		start := time.Now()
		resp, err := h(ctx, ev)
		ms := math.Ceil(float64(time.Since(start)) / float64(time.Millisecond))
		m.mu.Lock()
		m.invocations++
		m.messages += len(ev.Records)
		m.billedMS += ms
		m.mu.Unlock()
		return resp, err
	}
}

type timedModel struct {
	m     *meter
	inner worker.Model
}

func (t timedModel) Generate(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	start := time.Now()
	n := 0
	p, err := t.inner.Generate(ctx, req, func(s string) {
		n += len(s)
		t.m.live.written(req.Prompt, n, time.Now())
		onDelta(s)
	})
	t.m.mu.Lock()
	t.m.modelCalls++
	t.m.modelSeconds += time.Since(start).Seconds()
	t.m.mu.Unlock()
	return p, err
}

// Write counts the stack's log bytes.
func (m *meter) Write(p []byte) (int, error) {
	m.mu.Lock()
	m.logBytes += len(p)
	m.mu.Unlock()
	return len(p), nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	users := fs.Int("users", 8, "users per phase")
	perUser := fs.Int("jobs-per-user", 5, "jobs each user submits per phase")
	rate := fs.Float64("rate", 0.5, "jobs submitted per second, all users together")
	wps := fs.Float64("words-per-second", 10, "the local model's pace; with its 40-160 words (100 on average) 10/s makes a job of about 10 s, as 500 tokens of a Haiku model at about 50 tokens/s")
	latency := fs.Duration("model-latency", 700*time.Millisecond, "the local model's time to first word")
	inTok := fs.Float64("input-tokens", 500, "model input tokens per job, for the token cost")
	outTok := fs.Float64("output-tokens", 500, "model output tokens per job, for the token cost")
	cacheRead := fs.Float64("cache-read-tokens", 0, "input tokens per job read from the prompt cache (a system prompt past the model's caching minimum, sent again within the cache's TTL)")
	cacheWrite := fs.Float64("cache-write-tokens", 0, "input tokens per job written to the prompt cache")
	modelID := fs.String("model", catalogue.DefaultModel, "the model whose token prices (from internal/catalogue) are used in the bills")
	compare := fs.String("compare", strings.Join(catalogue.DefaultModels[1:], ","), "more models (comma list) whose totals are printed beside -model's")
	batchJobs := fs.Int("batch-jobs", 100, "jobs of the batch-tool phase (at most 100: one call)")
	pollAs := fs.String("poll", "text", `how the web phase polls a job: "text", as web/js/poller.js does (every second while its text grows, slower while it does not), or "retry-after", as the web app did before issue 29 (as Retry-After says)`)
	concurrency := fs.Int("model-concurrency", 32, "the model's concurrency the lanes share (promptq:modelConcurrency; a quarter, 8, is the interactive lane's): "+
		"enough for the web phase's jobs (rate x about 11 s) to start at once, so that its cost is a job's, not a backlog's; "+
		"with less, web jobs wait in the queue, polled every 2 s")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *users < 1 || *perUser < 1 || *rate <= 0 || *batchJobs < 1 || *batchJobs > 100 {
		return fmt.Errorf("want users, jobs and a rate above 0")
	}
	poll := map[string]loadtest.PollMode{"text": loadtest.PollEach, "retry-after": loadtest.PollRetryAfter}[*pollAs]
	if poll == loadtest.PollList {
		return fmt.Errorf(`-poll %q: want "text" or "retry-after"`, *pollAs)
	}
	usEast1, err := usEast1.withModel(*modelID)
	if err != nil {
		return err
	}
	var models []catalogue.Model
	for _, id := range append([]string{*modelID}, strings.Split(*compare, ",")...) {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		m, ok := catalogue.Lookup(id)
		if !ok || m.Local {
			return fmt.Errorf("model %q is not a Bedrock model of the catalogue (internal/catalogue)", id)
		}
		models = append(models, m)
	}
	m := newMeter()
	fmt.Fprintf(stdout, "cost: starting a dev stack (local model: %g words/s after %s)\n", *wps, *latency)
	st, err := loadtest.StartStack(ctx, loadtest.StackOptions{
		Env: map[string]string{
			"PROMPTQ_LOCAL_TOKENS_PER_SECOND": strconv.FormatFloat(*wps, 'f', -1, 64),
			"PROMPTQ_LOCAL_LATENCY":           latency.String(),
			// The rescuer's runs are a fixed cost per month, not per job
			// (docs/benchmarks.md gives it apart): none within the run.
			"PROMPTQ_DEV_RESCUE_EVERY": "1h",
			// The economy phase's run starts at once (Bedrock's wait costs
			// nothing), and the collector looks every 2 s.
			"PROMPTQ_DEV_ECONOMY_START_AFTER": "0s",
			"PROMPTQ_DEV_ECONOMY_EVERY":       "2s",
			"PROMPTQ_MODEL_CONCURRENCY":       strconv.Itoa(*concurrency),
		},
		Hooks: devstack.Hooks{
			AWS:     []func(*middleware.Stack) error{m.counter.Middleware},
			Handler: m.handler,
			Model:   func(inner worker.Model) worker.Model { return timedModel{m, inner} },
			Economy: m.economy,
		},
		Log: m,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := st.Config
	lanes := cfg.Quota.Split()
	fmt.Fprintf(stdout, "cost: worker fed as deployed: one job an invocation, %d interactive and %d bulk at once; API %g GB, worker %g GB (stack/promptqstack)\n",
		lanes.Interactive, lanes.Bulk, apiMemoryGB, workerMemoryGB)

	us, err := loadtest.SignUpUsers(ctx, st.Info, "cost", *users+1, 4)
	if err != nil {
		return err
	}
	spread := time.Duration(float64(*users**perUser) / *rate * float64(time.Second))
	phases := []string{
		fmt.Sprintf("web app: %d jobs from %d users at %.2g/s, each polled as -poll %s says", *users**perUser, *users, *rate, *pollAs),
		fmt.Sprintf("batch tool: %d jobs in one POST /generate/batch, GET /jobs every 2 s", *batchJobs),
		fmt.Sprintf("economy lane: %d jobs in one POST /generate/batch on the economy lane, GET /jobs every 2 s", *batchJobs),
	}
	names := []string{"web app", "batch tool", economyLane}
	var bills [][]Line
	var usages []Usage
	var syncUsage Usage
	for i, name := range phases {
		time.Sleep(time.Second) // let the previous phase's deletes land
		m.reset()
		client := loadtest.NewClient(st.Info.APIURL, 4**users)
		start := time.Now()
		var n float64
		if i == 0 {
			o, err := loadtest.Run(ctx, client, loadtest.Plan{
				Run: "cost", Users: us[:*users], JobsPerUser: *perUser,
				Spread: spread, Poll: poll, Wait: spread + 10*time.Minute, OnPoll: m.live.polled,
			})
			if err != nil {
				return err
			}
			if len(o.Accepted()) == 0 || len(o.Unfinished()) > 0 {
				return fmt.Errorf("%s: %d accepted, %d unfinished", name, len(o.Accepted()), len(o.Unfinished()))
			}
			n = float64(len(o.Accepted()))
		} else {
			lane := ""
			if i == 2 {
				lane = string(jobs.LaneEconomy)
			}
			if n, err = batchPhase(ctx, client, us[*users], *batchJobs, lane); err != nil {
				return err
			}
		}
		time.Sleep(time.Second)
		elapsed := time.Since(start)
		stats := m.counter.Snapshot()
		units := m.capacity.Total()
		m.mu.Lock()
		inv, msgs, billed, empty, calls, modelSec, logBytes := m.invocations, m.messages, m.billedMS, m.emptyRecv, m.modelCalls, m.modelSeconds, m.logBytes
		econInv, econMS := m.economyInvocations, m.economyBilledMS
		m.mu.Unlock()

		fmt.Fprintf(stdout, "\n== %s: all succeeded, %.0f s ==\n", name, elapsed.Seconds())
		apiReq, apiMS := 0, 0.0
		for _, s := range client.Latencies.Summaries() {
			fmt.Fprintf(stdout, "  API %-16s %6.2f a job (p50 %s ms)\n", s.Route, float64(s.Calls)/n, loadtest.Millis(s.P50))
			apiReq += s.Calls
		}
		apiMS = client.Latencies.BilledMillis()
		m.live.print(stdout)
		fmt.Fprintf(stdout, "  worker invocations %.2f a job (%.2f messages each), %.0f ms billed a job; model %.1f s a call\n",
			float64(inv)/n, float64(msgs)/float64(max(inv, 1)), billed/n, modelSec/float64(max(calls, 1)))
		if econInv > 0 {
			fmt.Fprintf(stdout, "  economy functions: %.3f invocations a job, %.1f ms billed a job\n", float64(econInv)/n, econMS/n)
		}
		fmt.Fprintln(stdout, "  AWS requests a job (awscount), retries included:")
		sqsReq, s3Put, s3Get := 0.0, 0.0, 0.0
		for _, s := range stats {
			per := float64(s.Requests) / n
			note := ""
			if s.Service == "SQS" && s.Operation == "ReceiveMessage" {
				note = fmt.Sprintf("  (%d of %d empty: %.0f an hour of polling)", empty, s.Requests, float64(empty)/elapsed.Hours())
				per = float64(int(s.Requests)-empty) / n
			}
			switch {
			case s.Service == "SQS":
				sqsReq += per * n
			case s.Service == "S3" && s.Operation == "GetObject":
				s3Get += per * n
			case s.Service == "S3":
				s3Put += per * n // PUT, LIST: one price
			}
			fmt.Fprintf(stdout, "    %-26s %-24s %6.2f%s\n", s.Service, s.Operation, per, note)
		}
		fmt.Fprintf(stdout, "  DynamoDB units a job: %.2f read, %.2f write (estimated from item sizes: %d calls, measured: %d)\n",
			units.Read/n, units.Write/n, units.Estimated, units.Measured)
		m.budget.print(stdout, n)
		u := Usage{
			APIRequests:        float64(apiReq) / n,
			APIGBSeconds:       apiMS / 1000 * apiMemoryGB / n,
			WorkerInvocations:  float64(inv) / n,
			WorkerGBSeconds:    billed / 1000 * workerMemoryGB / n,
			EconomyInvocations: float64(econInv) / n,
			EconomyGBSeconds:   econMS / 1000 * economyMemoryGB / n,
			S3PutRequests:      s3Put / n,
			S3GetRequests:      s3Get / n,
			SQSRequests:        sqsReq / n,
			ReadUnits:          units.Read / n,
			WriteUnits:         units.Write / n,
			LogBytes:           (float64(logBytes) + platformLogBytes*float64(apiReq+inv+econInv) + accessLogBytes*float64(apiReq)) / n,
			InputTokens:        *inTok,
			OutputTokens:       *outTok,
			CacheReadTokens:    *cacheRead,
			CacheWriteTokens:   *cacheWrite,
		}
		fmt.Fprintf(stdout, "  logs a job: %.1f KB (%.1f KB the stack wrote, the rest Lambda's and API Gateway's lines, estimated)\n",
			u.LogBytes/1e3, float64(logBytes)/n/1e3)
		prices := usEast1
		if i == 2 {
			// Bedrock's batch price for the economy lane's tokens.
			prices.Tokens = usEast1.Tokens.Batch()
		}
		bills = append(bills, prices.Bill(u))
		usages = append(usages, u)
		if calls == 0 {
			continue // no model call on demand (the economy lane): nothing to time the synchronous design by
		}
		// The synchronous design: one request that holds a function for
		// the whole generation.
		genSec := modelSec / float64(max(calls, 1))
		syncUsage = Usage{
			APIRequests:  1,
			APIGBSeconds: math.Ceil(genSec*1000) / 1000 * syncMemoryGB,
			LogBytes:     syncAppLogBytes + syncPlatformBytes + accessLogBytes,
			InputTokens:  *inTok, OutputTokens: *outTok,
			CacheReadTokens: *cacheRead, CacheWriteTokens: *cacheWrite,
		}
	}
	names = append(names, "synchronous, 256 MB")
	bills = append(bills, usEast1.Bill(syncUsage))
	usages = append(usages, syncUsage)

	fmt.Fprintf(stdout, "\n== dollars per 1,000 jobs, %s, %s ==\n", usEast1.Region, usEast1.AsOf)
	fmt.Fprintf(stdout, "prices: API Gateway REST $%.2f/M requests; Lambda arm64 $%.10f/GB-s + $%.2f/M invocations; SQS $%.2f/M requests;\n",
		usEast1.APIGatewayPerMillion, usEast1.LambdaPerGBSecond, usEast1.LambdaPerMillion, usEast1.SQSPerMillion)
	fmt.Fprintf(stdout, "        DynamoDB on-demand $%.3f/M WRU, $%.3f/M RRU; CloudWatch Logs $%.2f/GB;\n",
		usEast1.DynamoDBWritePerM, usEast1.DynamoDBReadPerM, usEast1.LogsPerGB)
	fmt.Fprintf(stdout, "        %s $%.2f/M input, $%.2f/M output, $%.3f/M cache-read, $%.4f/M cache-write tokens (internal/catalogue)\n",
		usEast1.Model, usEast1.Tokens.Input, usEast1.Tokens.Output, usEast1.Tokens.CacheRead, usEast1.Tokens.CacheWrite)
	fmt.Fprintf(stdout, "tokens a job (assumed, as Claude Haiku 4.5 counts them; %gx that on this model's tokenizer): %g input, %g output, %g cache-read, %g cache-write; free tiers left out\n",
		usEast1.TokenFactor, *inTok, *outTok, *cacheRead, *cacheWrite)
	writeBills(stdout, names, bills)
	writeTargets(stdout, names, bills, usages, models)
	fmt.Fprintf(stdout, "\n  the economy lane's tokens at Bedrock's batch price: %s%s\n", unconfirmed(catalogue.BatchPriceSource), catalogue.BatchPriceSource.Ref)
	return nil
}

// unconfirmed marks a source no primary document confirmed.
func unconfirmed(s catalogue.Source) string {
	if s.Confirmed {
		return ""
	}
	return "(UNCONFIRMED) "
}
