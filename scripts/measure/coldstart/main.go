// Command coldstart measures each Lambda bootstrap: its size as `make
// build` makes it (linux/arm64, as deployed, and this machine's
// architecture), and, under aws-lambda-rie, the time from the first
// invocation to its answer (a cold start: the emulator starts the
// bootstrap when the first event arrives), the init phase the emulator
// reports, the resident memory (VmRSS and VmHWM from /proc) after the
// first answer and after warm invocations, and the warm latency.
//
//	go run ./scripts/measure/coldstart            # 5 cold starts of each case
//	go run ./scripts/measure/coldstart -runs 10
//
// The functions talk to a dev stack this command starts in its own
// process (kumo for DynamoDB and SQS, cognito-local), on 127.0.0.1, so
// each first invocation does what it does in AWS: the API verifies a real
// access token against the pool's JWKS (fetched at init) and reads or
// writes DynamoDB and SQS; the worker claims and finishes a real job (its
// model is the local one with no pauses between words, so the time is the
// worker's own); the rescuer checks an empty queue of its own and scans the
// table's active index, which holds the jobs submitted for the worker (none
// of them stale). aws-lambda-rie must be installed (`make tools`). See
// docs/benchmarks.md.
//
// The worker calls Amazon Bedrock only, so its model is a fake Bedrock
// endpoint on 127.0.0.1 (internal/dev/bedrocktest, ConverseStream's wire
// format) that answers at once. One more case, "worker, streamed jobs",
// sizes the worker's memory: the endpoint streams each answer for -stream
// (10 s) at -stream-tokens-per-second, as a model writes, while the worker
// writes the interactive job's progress every second as deployed; it
// reports each job's CPU time (utime+stime of /proc/<pid>/stat) against its
// wall time, and the bootstrap's peak memory (VmHWM).
package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/measure/loadtest"
	"github.com/promptq/promptq/internal/rescue"
	"github.com/promptq/promptq/internal/sqsqueue"
)

func main() {
	if devstack.IsChild() {
		os.Exit(devstack.Main(nil, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "coldstart: %v\n", err)
		os.Exit(1)
	}
}

var lambdas = []string{"api", "worker", "rescuer", "presignup"}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("coldstart", flag.ContinueOnError)
	runs := fs.Int("runs", 5, "cold starts of each case")
	warm := fs.Int("warm", 50, "warm invocations after the last cold start of each case")
	only := fs.String("case", "", "run only the cases whose name starts with this (e.g. presignup)")
	streamFor := fs.Duration("stream", 10*time.Second, "how long the model streams each answer of the streamed-jobs case")
	streamRate := fs.Int("stream-tokens-per-second", 50, "the streamed answers' pace: one ConverseStream delta (a word) a token")
	streamJobs := fs.Int("stream-jobs", 4, "streamed jobs, one after another in one bootstrap (the first is its cold start)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rie, err := standin.ToolPath(filepath.Join("bin", "aws-lambda-rie"))
	if err != nil {
		return fmt.Errorf("%w; run `make tools`", err)
	}
	tmp, err := os.MkdirTemp("", "promptq-coldstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// Sizes, as `make build` builds them.
	fmt.Fprintln(stdout, "binary sizes (make build: CGO_ENABLED=0 -tags lambda.norpc -trimpath -ldflags='-s -w'):")
	fmt.Fprintf(stdout, "  %-9s %-6s %12s %14s\n", "lambda", "arch", "bootstrap", "zipped (asset)")
	bins := map[string]string{}
	for _, arch := range slices.Compact([]string{"arm64", runtime.GOARCH}) {
		for _, l := range lambdas {
			out := filepath.Join(tmp, arch, l, "bootstrap")
			if err := build(ctx, l, arch, out); err != nil {
				return err
			}
			fi, err := os.Stat(out)
			if err != nil {
				return err
			}
			zipped, err := zipSize(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "  %-9s %-6s %9.1f MB %11.1f MB\n", l, arch, mb(fi.Size()), mb(zipped))
			if arch == runtime.GOARCH {
				bins[l] = out
			}
		}
	}

	// What the functions talk to.
	fmt.Fprintln(stdout, "\nstarting a dev stack for the functions to talk to")
	st, err := loadtest.StartStack(ctx, loadtest.StackOptions{
		// One user sends every request, far faster than the per-user
		// limits allow: no submission limit, and a request rate that is
		// still counted (a DynamoDB write per request, as deployed) but
		// never reached.
		Env:   map[string]string{"PROMPTQ_LIMIT_SUBMISSIONS_PER_MINUTE": "0", "PROMPTQ_LIMIT_REQUESTS_PER_SECOND": "100000"},
		Hooks: devstack.Hooks{ExternalWorker: true}, // the jobs stay queued for the worker bootstrap
	})
	if err != nil {
		return err
	}
	defer st.Close()
	users, err := loadtest.SignUpUsers(ctx, st.Info, "coldstart", 1, 1)
	if err != nil {
		return err
	}
	user := users[0]
	client := loadtest.NewClient(st.Info.APIURL, 4)
	submit := func(key, prompt string) (string, error) {
		res, a, err := client.Generate(ctx, user.Token, key, loadtest.GenerateRequest{Prompt: prompt})
		if err != nil || res.Status != http.StatusAccepted {
			return "", fmt.Errorf("submit a job for the worker: %d %s %v", res.Status, res.Body, err)
		}
		return a.JobID, nil
	}
	var jobIDs, streamIDs []string
	for i := range *runs + *warm {
		key := fmt.Sprintf("coldstart-%d", i)
		id, err := submit(key, loadtest.Prompt(key, 0, i))
		if err != nil {
			return err
		}
		jobIDs = append(jobIDs, id)
	}
	for i := range *streamJobs {
		key := fmt.Sprintf("coldstart-stream-%d", i)
		id, err := submit(key, streamMarker+" "+loadtest.Prompt(key, 0, i))
		if err != nil {
			return err
		}
		streamIDs = append(streamIDs, id)
	}
	model, closeModel := startModel(*streamFor, *streamRate)
	defer closeModel()

	env := []string{
		"AWS_REGION=" + standin.Region,
		"AWS_ACCESS_KEY_ID=standin", "AWS_SECRET_ACCESS_KEY=standin",
		"AWS_ENDPOINT_URL_DYNAMODB=" + st.Info.DynamoDBEndpoint,
		"AWS_ENDPOINT_URL_SQS=" + st.Info.SQSEndpoint,
		"AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=" + st.Info.CognitoEndpoint,
		"PROMPTQ_TABLE=" + st.Info.TableName,
		"PROMPTQ_INTERACTIVE_QUEUE_URL=" + st.Info.QueueURLs[jobs.LaneInteractive],
		"PROMPTQ_BULK_QUEUE_URL=" + st.Info.QueueURLs[jobs.LaneBulk],
	}
	apiEnv := append(slices.Clone(env),
		"PROMPTQ_USER_POOL_ID="+st.Info.UserPoolID,
		"PROMPTQ_COGNITO_ISSUER="+st.Info.Issuer,
		"PROMPTQ_CLIENT_IDS="+st.Info.ClientID,
		"PROMPTQ_MODELS="+joinModels(st.Info.Models),
		"PROMPTQ_DEFAULT_MODEL="+st.Info.DefaultModel,
		"PROMPTQ_LIMIT_REQUESTS_PER_SECOND=100000", // as the stack's above
	)
	workerEnv := append(slices.Clone(env),
		// The fake Bedrock endpoint: it answers the cases' jobs at once
		// (the time is the worker's), and streams the streamed case's.
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME="+model.URL,
		"PROMPTQ_WORKER_CONCURRENCY=5",
	)

	// The rescuer skips a lane's stale jobs while messages wait in its
	// queue, and the interactive queue holds the worker's jobs: it gets
	// empty queues of its own, so it does its whole path.
	rescueQueues, _, err := sqsqueue.CreateLaneQueues(ctx, standin.SQS(st.Info.SQSEndpoint), "promptq-coldstart-rescue", sqsqueue.QueueOptions{})
	if err != nil {
		return err
	}
	rescuerEnv := []string{"PROMPTQ_RESCUE_AFTER=45m"}
	for _, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); strings.HasSuffix(name, "_QUEUE_URL") {
			continue
		}
		rescuerEnv = append(rescuerEnv, kv)
	}
	for k, v := range rescueQueues.Env() {
		rescuerEnv = append(rescuerEnv, k+"="+v)
	}

	nextJob := 0
	workerEvent := func() []byte {
		id := jobIDs[nextJob]
		nextJob++
		return sqsEvent(st.Info.QueueARNs[jobs.LaneInteractive], id, user.Sub)
	}
	cases := []struct {
		name, lambda string
		env          []string
		event        func() []byte
		check        func([]byte) error
	}{
		{"api GET /jobs", "api", apiEnv, func() []byte { return apiEvent("GET", "/jobs", user.Token, "") }, apiStatus(200)},
		{"api POST /generate", "api", apiEnv, func() []byte {
			return apiEvent("POST", "/generate", user.Token, `{"prompt":"[cold] Say hello."}`)
		}, apiStatus(202)},
		{"worker, one job", "worker", workerEnv, workerEvent, noBatchFailures},
		{"rescuer, one run", "rescuer", rescuerEnv, func() []byte { return scheduledEvent }, scanned},
		{"presignup, one sign-up", "presignup", []string{"PROMPTQ_SIGN_UP=domains", "PROMPTQ_SIGN_UP_DOMAINS=example.com"},
			func() []byte { return preSignUpEvent }, signUpAllowed},
	}
	fmt.Fprintf(stdout, "\ncold starts under aws-lambda-rie (%d each; this machine: %s/%s, %d CPUs):\n", *runs, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintf(stdout, "  %-22s %28s %22s %18s %22s %12s\n", "case", "first invoke→answer ms", "init (RIE) ms", "RSS first MB", "RSS/HWM after warm MB", "warm p50 ms")
	for _, c := range cases {
		if !strings.HasPrefix(c.name, *only) {
			continue
		}
		var firsts, inits []time.Duration
		var mem, warmMem memory
		var warmP50 time.Duration
		for r := range *runs {
			last := r == *runs-1
			w := 0
			if last {
				w = *warm
				if c.lambda == "worker" {
					w = min(w, len(jobIDs)-nextJob-(*runs-1-r))
				}
			}
			m, err := coldStart(ctx, rie, bins[c.lambda], c.env, c.event, c.check, w)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			firsts, inits = append(firsts, m.first), append(inits, m.init)
			mem = m.mem
			if last {
				warmMem, warmP50 = m.warmMem, m.warmP50
			}
		}
		fmt.Fprintf(stdout, "  %-22s %28s %22s %18.1f %22s %12s\n", c.name,
			spread(firsts), spread(inits), kib(mem.RSSKiB),
			fmt.Sprintf("%.1f / %.1f", kib(warmMem.RSSKiB), kib(warmMem.HWMKiB)), loadtest.Millis(warmP50))
	}
	fmt.Fprintln(stdout, "\n(ms as median [min–max]; init is what the emulator reports as INIT REPORT: from the bootstrap's exec to its first /next.)")

	if name := "worker, streamed jobs"; strings.HasPrefix(name, *only) && *streamJobs > 0 {
		next := 0
		event := func() []byte {
			next++
			return sqsEvent(st.Info.QueueARNs[jobs.LaneInteractive], streamIDs[next-1], user.Sub)
		}
		jobsRun, err := streamed(ctx, rie, bins["worker"], workerEnv, event, *streamJobs)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		printStreamed(stdout, jobsRun, *streamFor, *streamRate)
	}
	return nil
}

// build builds lambdas/<l> as `make build` does.
func build(ctx context.Context, l, arch, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, "./lambdas/"+l)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s for %s: %v\n%s", l, arch, err, b)
	}
	return nil
}

// zipSize is the size of a zip holding the file, as a Lambda asset.
func zipSize(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(b); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return int64(buf.Len()), nil
}

// measurement is one cold start, and the warm invocations after it.
type measurement struct {
	first   time.Duration // first invocation sent → answered
	init    time.Duration // the emulator's INIT REPORT
	mem     memory        // the bootstrap's, after the first answer
	warmMem memory        // after the warm invocations
	warmP50 time.Duration
}

var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// coldStart runs bootstrap under a new aws-lambda-rie, invokes it once
// cold and warm times warm, and stops it.
func coldStart(ctx context.Context, rie, bootstrap string, env []string, event func() []byte, check func([]byte) error, warm int) (measurement, error) {
	var m measurement
	em, err := startEmulator(ctx, rie, bootstrap, env)
	if err != nil {
		return m, err
	}
	defer em.stop()
	start := time.Now()
	body, err := em.invoke(ctx, event())
	m.first = time.Since(start)
	if err == nil {
		err = check(body)
	}
	if err != nil {
		return m, fmt.Errorf("first invocation: %w\n%s", err, em.out.String())
	}
	pid, err := em.bootstrapPID()
	if err != nil {
		return m, err
	}
	if m.mem, err = readMemory("/proc", pid); err != nil {
		return m, err
	}
	if match := initReport.FindStringSubmatch(em.out.String()); match != nil {
		ms, _ := strconv.ParseFloat(match[1], 64)
		m.init = time.Duration(ms * float64(time.Millisecond))
	}
	var ds []time.Duration
	for range warm {
		t := time.Now()
		body, err := em.invoke(ctx, event())
		if err == nil {
			err = check(body)
		}
		if err != nil {
			return m, fmt.Errorf("warm invocation: %w", err)
		}
		ds = append(ds, time.Since(t))
	}
	if warm > 0 {
		slices.Sort(ds)
		m.warmP50 = loadtest.Percentile(ds, 50)
		if m.warmMem, err = readMemory("/proc", pid); err != nil {
			return m, err
		}
	}
	return m, nil
}

// emulator is a bootstrap running under aws-lambda-rie.
type emulator struct {
	cmd    *exec.Cmd
	out    *standin.Buffer
	url    string
	client *http.Client
}

// startEmulator starts bootstrap under a new aws-lambda-rie, which starts
// the bootstrap itself when the first event arrives.
func startEmulator(ctx context.Context, rie, bootstrap string, env []string) (*emulator, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	em := &emulator{out: &standin.Buffer{}, client: &http.Client{Timeout: 2 * time.Minute}}
	em.cmd = exec.Command(rie,
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(ports[0]),
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(ports[1]),
		bootstrap)
	em.cmd.Dir = filepath.Dir(bootstrap)
	em.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "AWS_EC2_METADATA_DISABLED=true"}, env...)
	em.cmd.Stdout, em.cmd.Stderr = em.out, em.out
	em.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := em.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	if err := waitListening(ctx, addr); err != nil {
		em.stop()
		return nil, fmt.Errorf("%w\n%s", err, em.out.String())
	}
	em.url = "http://" + addr + "/2015-03-31/functions/function/invocations"
	return em, nil
}

func (em *emulator) invoke(ctx context.Context, event []byte) ([]byte, error) {
	return invoke(ctx, em.client, em.url, event)
}

// bootstrapPID is the bootstrap's process, once an event has started it.
func (em *emulator) bootstrapPID() (int, error) {
	if pid := childNamed("/proc", em.cmd.Process.Pid, "bootstrap"); pid != 0 {
		return pid, nil
	}
	return 0, errors.New("no bootstrap process under aws-lambda-rie")
}

// stop kills the emulator and the bootstrap (its process group).
func (em *emulator) stop() {
	_ = syscall.Kill(-em.cmd.Process.Pid, syscall.SIGKILL)
	_ = em.cmd.Wait()
}

func invoke(ctx context.Context, client *http.Client, url string, event []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return b, fmt.Errorf("invoke: status %d: %s", res.StatusCode, b)
	}
	return b, nil
}

// apiEvent is the event API Gateway's REST proxy integration sends.
func apiEvent(method, path, token, body string) []byte {
	h := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com"}
	mv := map[string][]string{}
	for k, v := range h {
		mv[k] = []string{v}
	}
	b, _ := json.Marshal(events.APIGatewayProxyRequest{
		Resource: "/{proxy+}", Path: path, HTTPMethod: method, Headers: h, MultiValueHeaders: mv, Body: body,
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID: "000000000000", Stage: "prod", RequestID: fmt.Sprintf("cold-%d", time.Now().UnixNano()),
			HTTPMethod: method, ResourcePath: "/{proxy+}", Path: "/prod" + path,
		},
	})
	return b
}

func apiStatus(want int) func([]byte) error {
	return func(b []byte) error {
		var res events.APIGatewayProxyResponse
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("response %s: %w", b, err)
		}
		if res.StatusCode != want {
			return fmt.Errorf("status %d, want %d: %s", res.StatusCode, want, res.Body)
		}
		return nil
	}
}

// sqsEvent is the event Lambda's SQS mapping sends for one job message.
func sqsEvent(queueARN, jobID, owner string) []byte {
	body, _ := json.Marshal(map[string]string{"job_id": jobID, "owner": owner})
	b, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: "m-" + jobID, ReceiptHandle: "r-" + jobID, Body: string(body),
		Attributes:     map[string]string{"ApproximateReceiveCount": "1"},
		EventSourceARN: queueARN, EventSource: "aws:sqs", AWSRegion: standin.Region,
	}}})
	return b
}

// scheduledEvent is what an EventBridge schedule sends.
var scheduledEvent = []byte(`{"version":"0","id":"cold","detail-type":"Scheduled Event","source":"aws.events",` +
	`"account":"000000000000","time":"2026-11-25T12:00:00Z","region":"us-east-1","resources":[],"detail":{}}`)

// preSignUpEvent is what Cognito sends the pre-sign-up trigger.
var preSignUpEvent = []byte(`{"version":"1","triggerSource":"PreSignUp_SignUp","region":"us-east-1",` +
	`"userPoolId":"us-east-1_Cold","userName":"cold","callerContext":{"awsSdkVersion":"x","clientId":"c"},` +
	`"request":{"userAttributes":{"email":"cold@example.com"}},"response":{}}`)

// signUpAllowed checks that the trigger let an allowed address through.
func signUpAllowed(b []byte) error {
	var out struct {
		TriggerSource string `json:"triggerSource"`
		ErrorMessage  string `json:"errorMessage"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.ErrorMessage != "" || out.TriggerSource == "" {
		return fmt.Errorf("presignup answered %s (%v), want the event back", b, err)
	}
	return nil
}

// scanned checks a rescuer run that scanned the index (no message was
// waiting) and found nothing to do.
func scanned(b []byte) error {
	var rep rescue.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("response %s: %w", b, err)
	}
	if rep != (rescue.Report{}) {
		return fmt.Errorf("rescuer report %s, want an empty queue and no stale job", b)
	}
	return nil
}

func noBatchFailures(b []byte) error {
	var res events.SQSEventResponse
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("response %s: %w", b, err)
	}
	if len(res.BatchItemFailures) != 0 {
		return fmt.Errorf("batch item failures: %s", b)
	}
	return nil
}

func joinModels(ms []string) string {
	b, _ := json.Marshal(ms)
	s := string(b)
	s = s[1 : len(s)-1]
	return regexp.MustCompile(`"`).ReplaceAllString(s, "")
}

func waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("aws-lambda-rie did not listen on %s: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// spread formats durations as "median [min–max]" in ms.
func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%s [%s–%s]", loadtest.Millis(loadtest.Percentile(s, 50)), loadtest.Millis(s[0]), loadtest.Millis(s[len(s)-1]))
}

func mb(n int64) float64 { return float64(n) / 1e6 }
func kib(n int) float64  { return float64(n) / 1024 }
