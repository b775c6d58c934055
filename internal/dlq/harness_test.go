package dlq_test

// The harness: one test's table, jobs queue and dead-letter queue on the
// in-process kumo, a dev.json naming them (so tests run the command as
// operators do, through Main), and optionally the real worker fed by the
// esm poller, with a model that fails until a switch is flipped.

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/esm"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dlq"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/worker"
)

const (
	owner      = "5f0c6a1e-2b7d-4c3e-8a9f-1d2e3f4a5b6c"
	maxReceive = 2
)

type bundle struct {
	t        *testing.T
	sqs      *sqs.Client
	store    *dynamo.Store
	queue    *sqsqueue.Lanes
	dlq      *sqsqueue.DeadLetterQueue
	table    string
	urls     sqsqueue.LaneURLs
	queueURL string // the interactive lane's, where the tests' jobs go
	dlqURL   string
	devDir   string // holds dev.json
}

func setup(t *testing.T) *bundle {
	t.Helper()
	// The function timeout below must fit in the visibility timeout, as
	// for a Lambda trigger.
	be := standin.NewBackend(t, sqsqueue.QueueOptions{
		MaxReceiveCount: maxReceive, VisibilityTimeout: 30 * time.Second,
	})
	k := be.Kumo
	b := &bundle{
		t: t, sqs: k.SQS, table: be.Table, urls: be.QueueURLs, queueURL: be.QueueURL, dlqURL: be.DLQURL,
		store:  be.Store(dynamo.Options{}),
		queue:  be.Lanes(),
		dlq:    sqsqueue.NewDeadLetterQueue(k.SQS, be.DLQURL),
		devDir: t.TempDir(),
	}
	err := devinfo.Write(b.devDir, devinfo.Info{
		Region: standin.Region, TableName: be.Table, QueueURLs: be.QueueURLs, DLQURL: be.DLQURL,
		SQSEndpoint: k.URL, DynamoDBEndpoint: k.URL, MaxReceiveCount: maxReceive,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// switchModel is the local model, made to fail with a transient error
// (its promptq-fault:midstream marker) while failing is set.
type switchModel struct {
	failing   atomic.Bool
	succeeded atomic.Int64 // generations that returned a result
	m         *localmodel.Model
}

func newSwitchModel(failing bool) *switchModel {
	s := &switchModel{m: localmodel.New(localmodel.Options{TokensPerSecond: 100_000})}
	s.failing.Store(failing)
	return s
}

func (s *switchModel) Generate(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	if s.failing.Load() {
		req.Prompt += " promptq-fault:midstream"
	}
	p, err := s.m.Generate(ctx, req, onDelta)
	if err == nil {
		s.succeeded.Add(1)
	}
	return p, err
}

// startWorker runs the real worker on the jobs queue, fed by the esm
// poller as Lambda's event source mapping would, until the test ends.
func (b *bundle) startWorker(m worker.Model) {
	t := b.t
	t.Helper()
	cfg := worker.DefaultConfig()
	cfg.Table, cfg.QueueURLs = b.table, b.urls
	cfg.MaxReceiveCount = maxReceive
	cfg.BackoffBase, cfg.BackoffMax = 0, 0 // retry at once
	cfg.FlushInterval, cfg.Lease = 50*time.Millisecond, 5*time.Second
	cfg.DeadlineMargin = time.Second
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	w, err := worker.New(b.store, b.queue, m, cfg, worker.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	p, err := esm.New(b.sqs, w.Handle, esm.Options{
		QueueURL: b.queueURL, FunctionTimeout: 20 * time.Second, WaitTime: time.Second,
		Concurrency: 1, ReleaseOnStop: true, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("poller: %v", err)
		}
	})
}

// submit stores a queued job and sends its message, as the API does.
func (b *bundle) submit(prompt string) jobs.Job {
	b.t.Helper()
	j, _, err := b.store.Create(b.t.Context(), jobs.Job{
		ID: jobs.NewID(), Owner: owner, Prompt: prompt, Model: localmodel.ID, MaxTokens: 50,
	}, "")
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.queue.Send(b.t.Context(), j.Message()); err != nil {
		b.t.Fatal(err)
	}
	return j
}

// deadJob makes a job as the worker leaves one on its last receive
// (claimed, then failed with retries_exhausted) and puts its message in
// the dead-letter queue directly, for tests that need no worker.
func (b *bundle) deadJob(prompt string) jobs.Job {
	b.t.Helper()
	ctx := b.t.Context()
	j, _, err := b.store.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: owner, Prompt: prompt, Model: localmodel.ID, MaxTokens: 50}, "")
	if err != nil {
		b.t.Fatal(err)
	}
	c, err := b.store.Claim(ctx, owner, j.ID, time.Minute)
	if err != nil {
		b.t.Fatal(err)
	}
	err = b.store.Fail(ctx, owner, j.ID, c.Attempts, jobs.Failure{Code: jobs.FailureRetries,
		Message: "Gave up after 2 attempts. The last one failed with: The model is throttling requests."})
	if err != nil {
		b.t.Fatal(err)
	}
	b.sendDLQ(`{"job_id":"` + j.ID + `","owner":"` + owner + `"}`)
	return b.job(j.ID)
}

// sendDLQ puts a raw body in the dead-letter queue.
func (b *bundle) sendDLQ(body string) {
	b.t.Helper()
	if _, err := b.sqs.SendMessage(b.t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(b.dlqURL), MessageBody: aws.String(body)}); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bundle) job(id string) jobs.Job {
	b.t.Helper()
	j, err := b.store.Get(b.t.Context(), owner, id)
	if err != nil {
		b.t.Fatal(err)
	}
	return j
}

// depth counts a queue's messages, visible or not.
func (b *bundle) depth(url string) int {
	b.t.Helper()
	d, err := sqsqueue.QueueDepth(b.t.Context(), b.sqs, url)
	if err != nil {
		b.t.Fatal(err)
	}
	return d.Visible + d.InFlight
}

// eventually waits until cond holds; the test's deadline bounds the wait.
func (b *bundle) eventually(what string, cond func() bool) {
	b.t.Helper()
	for !cond() {
		select {
		case <-b.t.Context().Done():
			b.t.Fatalf("test ended before %s", what)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// result is one run of the command.
type result struct {
	code   int
	stdout string
	stderr string
}

// run runs the command on the bundle's dev.json.
func (b *bundle) run(stdin string, terminal bool, args ...string) result {
	b.t.Helper()
	var stdout, stderr standin.Buffer
	code := dlq.Main(b.t.Context(), append([]string{"--dev", devinfo.Path(b.devDir)}, args...), dlq.Env{
		Getenv:        func(string) string { return "" },
		Stdin:         strings.NewReader(stdin),
		StdinTerminal: terminal,
		Stdout:        &stdout,
		Stderr:        &stderr,
	})
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	b.t.Logf("dlq %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// tool builds a Tool on the bundle's resources directly, for tests that
// wrap one of them.
func (b *bundle) tool(q interface {
	Send(context.Context, jobs.Message) error
}) *dlq.Tool {
	b.t.Helper()
	tool, err := dlq.New(dlq.Config{
		Store: b.store, Queue: q, DeadLetters: b.dlq, DLQURL: b.dlqURL,
		Logger: slog.New(slog.NewTextHandler(testWriter{b.t}, nil)),
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return tool
}

func (b *bundle) list() dlq.Listing {
	b.t.Helper()
	r := b.run("", false, "list", "--json")
	var l dlq.Listing
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		b.t.Fatalf("list --json printed %q: %v", r.stdout, err)
	}
	return l
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
