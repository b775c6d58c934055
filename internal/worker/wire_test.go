package worker_test

// Over-the-wire tests: the worker with its real store (internal/dynamo) and
// queue (internal/sqsqueue) on kumo, fed by a test poller that receives from
// the SQS stand-in and builds the events Lambda would send.

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/promptq/promptq/internal/bedrock"
	"github.com/promptq/promptq/internal/dev/bedrocktest"
	"github.com/promptq/promptq/internal/dev/esm"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/worker"
)

const owner = "0b7a6b52-1f7e-4d1c-9b8e-3f1f2c6d9e01"

// wire is one test's table and queues on the shared kumo. The jobs it
// submits are on the interactive lane, whose queue it polls.
type wire struct {
	t        *testing.T
	sqs      *sqs.Client
	store    *dynamo.Store
	queue    *sqsqueue.Lanes
	queueURL string
	dlqURL   string
	arn      string
	backend  standin.Backend
}

type wireOptions struct {
	maxReceiveCount   int
	visibilityTimeout time.Duration // the queue's; 0: SQS's 30 s
}

func setupWire(t *testing.T, opts wireOptions) *wire {
	t.Helper()
	be := standin.NewBackend(t, sqsqueue.QueueOptions{
		MaxReceiveCount:   opts.maxReceiveCount,
		VisibilityTimeout: opts.visibilityTimeout,
	})
	return &wire{
		t: t, sqs: be.Kumo.SQS,
		store:    be.Store(dynamo.Options{}),
		queue:    be.Lanes(),
		queueURL: be.QueueURL, dlqURL: be.DLQURL,
		arn: be.QueueARN, backend: be,
	}
}

// submit stores a queued job and sends its message, as the API does.
func (w *wire) submit(prompt string, maxTokens int) jobs.Job {
	w.t.Helper()
	return w.submitJob(jobs.Job{Prompt: prompt, Model: "us.anthropic.claude-haiku-5-5", MaxTokens: maxTokens})
}

// submitJob stores j, with a new id and the test's owner, as a queued job
// and sends its message; the API's checks are not made, as a client
// writing to the table would not make them.
func (w *wire) submitJob(j jobs.Job) jobs.Job {
	w.t.Helper()
	j.ID, j.Owner = jobs.NewID(), owner
	j, _, err := w.store.Create(w.t.Context(), j, "")
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.queue.Send(w.t.Context(), j.Message()); err != nil {
		w.t.Fatal(err)
	}
	return j
}

func (w *wire) job(id string) jobs.Job {
	w.t.Helper()
	j, err := w.store.Get(w.t.Context(), owner, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return j
}

// receive long-polls the queue for up to max messages and returns the event
// Lambda would build for them (no event when the queue stays empty for a
// second).
func (w *wire) receive(ctx context.Context, max int) (events.SQSEvent, bool) {
	w.t.Helper()
	out, err := w.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(w.queueURL),
		MaxNumberOfMessages:         int32(max),
		WaitTimeSeconds:             1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		if ctx.Err() == nil {
			w.t.Fatalf("receive: %v", err)
		}
		return events.SQSEvent{}, false
	}
	if len(out.Messages) == 0 {
		return events.SQSEvent{}, false
	}
	return esm.Event(w.arn, standin.Region, out.Messages), true
}

// settle deletes the messages the response does not list as failures, as
// Lambda's event source mapping does.
func (w *wire) settle(ev events.SQSEvent, resp events.SQSEventResponse) {
	w.t.Helper()
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, m := range ev.Records {
		if failed[m.MessageId] {
			continue
		}
		if _, err := w.sqs.DeleteMessage(w.t.Context(), &sqs.DeleteMessageInput{
			QueueUrl: aws.String(w.queueURL), ReceiptHandle: aws.String(m.ReceiptHandle),
		}); err != nil {
			w.t.Fatalf("delete: %v", err)
		}
	}
}

// pollUntil delivers messages to h, one receive at a time, until done
// reports true; it fails the test if the test's deadline comes first.
func (w *wire) pollUntil(h func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), done func() bool) int {
	w.t.Helper()
	invocations := 0
	for !done() {
		if w.t.Context().Err() != nil {
			w.t.Fatal("test ended before the condition was met")
		}
		ev, ok := w.receive(w.t.Context(), 10)
		if !ok {
			continue
		}
		invocations++
		resp, err := h(w.t.Context(), ev)
		if err != nil {
			w.t.Fatalf("handler error: %v", err)
		}
		w.settle(ev, resp)
	}
	return invocations
}

// queueDepth counts the messages in a queue, visible or not.
func (w *wire) queueDepth(url string) int {
	w.t.Helper()
	d, err := sqsqueue.QueueDepth(w.t.Context(), w.sqs, url)
	if err != nil {
		w.t.Fatal(err)
	}
	return d.Visible + d.InFlight
}

// wireConfig is a worker configuration for tests: fast flushes, short
// leases, immediate retries.
func wireConfig(maxReceive int) worker.Config {
	c := worker.DefaultConfig()
	c.Table = "unused"
	c.MaxReceiveCount = maxReceive
	c.FlushInterval = 20 * time.Millisecond
	c.Lease = 2 * time.Second
	c.BackoffBase, c.BackoffMax = 0, 0
	c.DeadlineMargin = 0
	return c
}

func newWorker(t *testing.T, w *wire, m worker.Model, cfg worker.Config) *worker.Worker {
	t.Helper()
	cfg.QueueURLs = w.backend.QueueURLs
	wk, err := worker.New(w.store, w.queue, m, cfg, worker.Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return wk
}

// testWriter sends logs to t.Log, so they show only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// countingModel counts Generate calls.
type countingModel struct {
	worker.Model
	calls atomic.Int32
}

func (m *countingModel) Generate(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	m.calls.Add(1)
	return m.Model.Generate(ctx, req, onDelta)
}

// fast is the local model at a pace that makes tests quick.
func fast() *localmodel.Model { return localmodel.New(localmodel.Options{TokensPerSecond: 1e5}) }

func TestWireAJobRunsToSuccess(t *testing.T) {
	t.Parallel()
	w := setupWire(t, wireOptions{maxReceiveCount: 3})
	wk := newWorker(t, w, fast(), wireConfig(3))
	j := w.submit("Say something", 60)
	w.pollUntil(wk.Handle, func() bool { return w.job(j.ID).Status.Terminal() })

	got := w.job(j.ID)
	if got.Status != jobs.StatusSucceeded || got.Attempts != 1 {
		t.Fatalf("job status %s attempts %d, want succeeded after 1", got.Status, got.Attempts)
	}
	if !strings.HasPrefix(got.GeneratedText, localmodel.Banner) || got.StopReason == "" ||
		got.Tokens.Output != len(strings.Fields(got.GeneratedText)) || got.Tokens.Input != 2 {
		t.Errorf("job result = %q tokens %+v stop %q", got.GeneratedText, got.Tokens, got.StopReason)
	}
	if got.StartedAt.IsZero() || got.FinishedAt.Before(got.StartedAt) {
		t.Errorf("timing: started %v finished %v", got.StartedAt, got.FinishedAt)
	}
	if n := w.queueDepth(w.queueURL); n != 0 {
		t.Errorf("%d messages left on the queue", n)
	}
}

// Two deliveries of one job while it runs: one model call. The second
// delivery is dropped at once, since the worker running the job holds its
// own message (which comes back after the visibility timeout if that
// worker dies); keeping it would have it come back every lease. It leaves
// the job's fair-share slot to that worker too: were the duplicate (or a
// replay's, or a rescue's copy) to give it back, the owner would run one
// job over their share until the running worker's next renewal.
func TestWireDuplicateDeliveryCallsTheModelOnce(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	proceed := make(chan struct{})
	var once sync.Once
	model := &countingModel{Model: gated{fast(), func() {
		once.Do(func() { close(started) })
		<-proceed
	}}}
	w, shares, wk := sharedWire(t, model)
	j := w.submit("Say something", 40)
	// The same message again, as SQS's at-least-once delivery may.
	if err := w.queue.Send(t.Context(), j.Message()); err != nil {
		t.Fatal(err)
	}

	// First delivery: runs until the test lets it finish.
	first, ok := w.receive(t.Context(), 1)
	for !ok {
		first, ok = w.receive(t.Context(), 1)
	}
	firstDone := make(chan events.SQSEventResponse)
	go func() {
		resp, _ := wk.Handle(t.Context(), first)
		firstDone <- resp
	}()
	<-started
	if n := w.running(shares); n != 1 {
		t.Fatalf("the owner holds %d slots while the job runs, want 1", n)
	}
	// Second delivery while the first runs: no model call, acknowledged.
	second, ok := w.receive(t.Context(), 1)
	for !ok {
		second, ok = w.receive(t.Context(), 1)
	}
	resp, _ := wk.Handle(t.Context(), second)
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("duplicate while running: failures %v, want it acknowledged", resp.BatchItemFailures)
	}
	w.settle(second, resp)
	if n := w.queueDepth(w.queueURL); n != 1 {
		t.Errorf("%d messages while the first runs, want only its own", n)
	}
	if n := w.running(shares); n != 1 {
		t.Errorf("the owner holds %d slots after the duplicate was dropped, want the running job's 1", n)
	}
	close(proceed)
	w.settle(first, <-firstDone)
	if n := w.queueDepth(w.queueURL); n != 0 {
		t.Errorf("%d messages left after the job succeeded", n)
	}
	if n := w.running(shares); n != 0 {
		t.Errorf("the owner holds %d slots after the job ended, want 0", n)
	}
	if got := w.job(j.ID); got.Status != jobs.StatusSucceeded || got.Attempts != 1 {
		t.Errorf("job %s attempts %d, want succeeded after one claim", got.Status, got.Attempts)
	}
	if n := model.calls.Load(); n != 1 {
		t.Errorf("model called %d times, want 1", n)
	}
}

// gated runs hook before each generation.
type gated struct {
	worker.Model
	hook func()
}

func (g gated) Generate(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	g.hook()
	return g.Model.Generate(ctx, req, onDelta)
}

// A worker that dies mid-job writes nothing more and deletes nothing; SQS
// delivers the message again after its visibility timeout, the lease has
// lapsed by then, and another worker runs the job to the end.
func TestWireAJobWhoseWorkerCrashedCompletesOnRedelivery(t *testing.T) {
	t.Parallel()
	w := setupWire(t, wireOptions{maxReceiveCount: 5, visibilityTimeout: 2 * time.Second})
	cfg := wireConfig(5)
	cfg.Lease = time.Second

	// The doomed worker: its model streams the banner and hangs; a crash
	// cuts its store and queue off, as a dead process would be.
	crash := &crashSwitch{}
	doomed, err := worker.New(crashStore{w.store, crash}, crashQueue{w.queue, crash}, fast(), cfg, worker.Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	j := w.submit("Write something promptq-fault:hang", 80)
	ev, ok := w.receive(t.Context(), 1)
	for !ok {
		ev, ok = w.receive(t.Context(), 1)
	}
	ctx, kill := context.WithCancel(t.Context())
	doomedDone := make(chan struct{})
	go func() {
		defer close(doomedDone)
		_, _ = doomed.Handle(ctx, ev) // a dead process's answer never reaches SQS
	}()
	// Mid-job: running, with the streamed banner saved.
	waitFor(t, func() bool {
		got := w.job(j.ID)
		return got.Status == jobs.StatusRunning && got.GeneratedText == localmodel.Banner
	})
	crash.trip()
	kill()
	<-doomedDone

	// A healthy worker: the same prompt without the fault marker would be
	// another job, so its model ignores the marker.
	healthy := newWorker(t, w, unhang{fast()}, cfg)
	w.pollUntil(healthy.Handle, func() bool { return w.job(j.ID).Status.Terminal() })
	got := w.job(j.ID)
	if got.Status != jobs.StatusSucceeded || got.Attempts != 2 {
		t.Fatalf("job %s after %d claims, want succeeded on the second", got.Status, got.Attempts)
	}
	if strings.Contains(got.GeneratedText, "promptq-fault") || !strings.HasPrefix(got.GeneratedText, localmodel.Banner) {
		t.Errorf("text %q", got.GeneratedText)
	}
	w.pollUntil(healthy.Handle, func() bool { return w.queueDepth(w.queueURL) == 0 })
}

// A message that keeps failing transiently, and one that can never be
// parsed, end in the dead-letter queue after maxReceiveCount receives; the
// job is failed first, with a reason.
func TestWirePoisonMessagesEndInTheDeadLetterQueue(t *testing.T) {
	t.Parallel()
	w := setupWire(t, wireOptions{maxReceiveCount: 3})
	wk := newWorker(t, w, fast(), wireConfig(3))
	j := w.submit("promptq-fault:midstream", 40)
	if _, err := w.sqs.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(w.queueURL), MessageBody: aws.String("not a job")}); err != nil {
		t.Fatal(err)
	}
	invocations := w.pollUntil(wk.Handle, func() bool { return w.queueDepth(w.dlqURL) == 2 })

	got := w.job(j.ID)
	if got.Status != jobs.StatusFailed || got.Failure == nil || got.Failure.Code != jobs.FailureRetries {
		t.Fatalf("job %s failure %+v, want failed with %s", got.Status, got.Failure, jobs.FailureRetries)
	}
	if want := "Gave up after 3 attempts. The last one failed with: The local model is simulating a stream that broke off"; !strings.HasPrefix(got.Failure.Message, want) {
		t.Errorf("failure message %q, want it to start %q", got.Failure.Message, want)
	}
	if got.Attempts != 3 {
		t.Errorf("attempts %d, want 3", got.Attempts)
	}
	if n := w.queueDepth(w.queueURL); n != 0 {
		t.Errorf("%d messages left on the main queue", n)
	}
	msgs, err := w.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.dlqURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]bool{}
	for _, m := range msgs.Messages {
		bodies[aws.ToString(m.Body)] = true
	}
	jobBody, _ := json.Marshal(j.Message())
	if !bodies["not a job"] || !bodies[string(jobBody)] {
		t.Errorf("dead-letter queue holds %v", bodies)
	}
	t.Logf("%d invocations", invocations)
}

// The owner cancels while the model streams: at the next flush the worker
// stops the model and leaves the job cancelled.
func TestWireCancellationMidStreamStopsTheModel(t *testing.T) {
	t.Parallel()
	w := setupWire(t, wireOptions{maxReceiveCount: 3})
	// A realistic pace: 1000 words would take 20 s.
	m := &recordingModel{Model: localmodel.New(localmodel.Options{TokensPerSecond: 50})}
	wk := newWorker(t, w, m, wireConfig(3))
	j := w.submit("Write at length", 1000)
	ev, ok := w.receive(t.Context(), 1)
	for !ok {
		ev, ok = w.receive(t.Context(), 1)
	}
	done := make(chan events.SQSEventResponse)
	go func() {
		resp, _ := wk.Handle(t.Context(), ev)
		done <- resp
	}()
	// Progress is visible in the table while the job runs.
	waitFor(t, func() bool {
		got := w.job(j.ID)
		return got.Status == jobs.StatusRunning && strings.HasPrefix(got.GeneratedText, "[promptq")
	})
	if _, err := w.store.Cancel(t.Context(), owner, j.ID); err != nil {
		t.Fatal(err)
	}
	resp := <-done
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("failures %v, want the message acknowledged", resp.BatchItemFailures)
	}
	if err := m.lastErr(); !errors.Is(err, context.Canceled) {
		t.Errorf("model ended with %v, want it stopped (context.Canceled)", err)
	}
	got := w.job(j.ID)
	if got.Status != jobs.StatusCancelled {
		t.Errorf("job %s, want cancelled", got.Status)
	}
	if n := len(strings.Fields(got.GeneratedText)); n >= 1000 {
		t.Errorf("job holds %d words: the model was not stopped", n)
	}
}

// The Bedrock provider over the wire, end to end: the real bedrockruntime
// client against the fake endpoint, the worker, DynamoDB and SQS on kumo.
func TestWireBedrock(t *testing.T) {
	t.Parallel()

	t.Run("streamed progress is visible in DynamoDB mid-run", func(t *testing.T) {
		t.Parallel()
		w := setupWire(t, wireOptions{maxReceiveCount: 3})
		gate := make(chan struct{})
		srv := bedrocktest.NewServer(t, func(rw *bedrocktest.Response, r *bedrocktest.Request) {
			rw.Start()
			rw.Delta("Queues ")
			rw.Delta("hold ")
			select {
			case <-gate:
			case <-rw.Context().Done():
				return
			}
			rw.Delta("messages.")
			rw.Finish("end_turn", 11, 3)
		})
		wk := newWorker(t, w, bedrock.New(srv.Client(1), bedrock.Options{}), wireConfig(3))
		j := w.submit("What do queues do?", 50)
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.pollUntil(wk.Handle, func() bool { return w.job(j.ID).Status.Terminal() })
		}()
		waitFor(t, func() bool {
			got := w.job(j.ID)
			return got.Status == jobs.StatusRunning && got.GeneratedText == "Queues hold "
		})
		close(gate)
		<-done
		got := w.job(j.ID)
		want := jobs.Progress{GeneratedText: "Queues hold messages.", Tokens: jobs.Tokens{Input: 11, Output: 3}, StopReason: "end_turn"}
		if got.Status != jobs.StatusSucceeded || (jobs.Progress{GeneratedText: got.GeneratedText, Tokens: got.Tokens, StopReason: got.StopReason}) != want {
			t.Errorf("job %s %q %+v %q, want succeeded with %+v", got.Status, got.GeneratedText, got.Tokens, got.StopReason, want)
		}
	})

	t.Run("throttling then success", func(t *testing.T) {
		t.Parallel()
		w := setupWire(t, wireOptions{maxReceiveCount: 3})
		srv := bedrocktest.NewServer(t, func(rw *bedrocktest.Response, r *bedrocktest.Request) {
			if r.Call == 1 {
				rw.Error(http.StatusTooManyRequests, "ThrottlingException", "Too many requests")
				return
			}
			rw.Answer([]string{"Fine."}, "end_turn", 3, 1)
		})
		wk := newWorker(t, w, bedrock.New(srv.Client(1), bedrock.Options{}), wireConfig(3))
		j := w.submit("Hi", 50)
		w.pollUntil(wk.Handle, func() bool { return w.job(j.ID).Status.Terminal() })
		got := w.job(j.ID)
		if got.Status != jobs.StatusSucceeded || got.GeneratedText != "Fine." || got.Attempts != 2 || srv.Calls() != 2 {
			t.Errorf("job %s %q after %d claims and %d model calls; want succeeded on the 2nd", got.Status, got.GeneratedText, got.Attempts, srv.Calls())
		}
	})

	t.Run("a validation error fails the job at once", func(t *testing.T) {
		t.Parallel()
		w := setupWire(t, wireOptions{maxReceiveCount: 3})
		srv := bedrocktest.NewServer(t, func(rw *bedrocktest.Response, r *bedrocktest.Request) {
			rw.Error(http.StatusBadRequest, "ValidationException", "The maximum tokens you requested exceeds the model limit of 4096.")
		})
		wk := newWorker(t, w, bedrock.New(srv.Client(1), bedrock.Options{}), wireConfig(3))
		j := w.submit("Hi", 50)
		w.pollUntil(wk.Handle, func() bool { return w.job(j.ID).Status.Terminal() })
		got := w.job(j.ID)
		want := jobs.Failure{Code: jobs.FailureModel, Message: "The model rejected the request: The maximum tokens you requested exceeds the model limit of 4096."}
		if got.Status != jobs.StatusFailed || got.Failure == nil || *got.Failure != want || srv.Calls() != 1 {
			t.Errorf("job %s failure %+v after %d calls, want failed with %+v after 1", got.Status, got.Failure, srv.Calls(), want)
		}
		if n := w.queueDepth(w.queueURL); n != 0 {
			t.Errorf("%d messages left: a permanent failure must be acknowledged", n)
		}
	})

	t.Run("a model that times out is released before the deadline", func(t *testing.T) {
		t.Parallel()
		w := setupWire(t, wireOptions{maxReceiveCount: 3})
		srv := bedrocktest.NewServer(t, func(rw *bedrocktest.Response, r *bedrocktest.Request) {
			rw.Start()
			rw.Delta("Slowly ")
			<-rw.Context().Done() // never finishes
		})
		cfg := wireConfig(3)
		cfg.DeadlineMargin = 200 * time.Millisecond
		wk := newWorker(t, w, bedrock.New(srv.Client(1), bedrock.Options{}), cfg)
		j := w.submit("Hi", 50)
		ev, ok := w.receive(t.Context(), 1)
		for !ok {
			ev, ok = w.receive(t.Context(), 1)
		}
		// The invocation's deadline, as Lambda sets it from the timeout.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		resp, err := wk.Handle(ctx, ev)
		cancel()
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle = %v, %v; want the message acknowledged, the job going on in a new one", resp, err)
		}
		got := w.job(j.ID)
		// The text so far is kept, and the next attempt continues it (a
		// user turn: Claude Haiku 5.5 takes no prefill).
		if got.Status != jobs.StatusQueued || got.GeneratedText != "Slowly " || got.Attempts != 1 {
			t.Errorf("job %s %q attempts %d, want queued again with its partial text", got.Status, got.GeneratedText, got.Attempts)
		}
	})
}

// waitFor polls cond until it holds, failing the test if the test's own
// deadline comes first. It asserts no timing, only that cond happens.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatal("condition never held")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// recordingModel remembers how its last generation ended.
type recordingModel struct {
	worker.Model
	mu  sync.Mutex
	err error
}

func (m *recordingModel) Generate(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	p, err := m.Model.Generate(ctx, req, onDelta)
	m.mu.Lock()
	m.err = err
	m.mu.Unlock()
	return p, err
}

func (m *recordingModel) lastErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// unhang strips the hang fault marker, standing in for a model that
// recovered.
type unhang struct{ worker.Model }

func (u unhang) Generate(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	req.Prompt = strings.ReplaceAll(req.Prompt, "promptq-fault:hang", "")
	return u.Model.Generate(ctx, req, onDelta)
}

// crashSwitch cuts a worker off from the world, as a crash would.
type crashSwitch struct{ down atomic.Bool }

func (c *crashSwitch) trip() { c.down.Store(true) }

var errCrashed = errors.New("crashed")

type crashStore struct {
	*dynamo.Store
	sw *crashSwitch
}

func (s crashStore) SaveProgress(ctx context.Context, o, id string, a int, p jobs.Progress, l time.Duration) error {
	if s.sw.down.Load() {
		return errCrashed
	}
	return s.Store.SaveProgress(ctx, o, id, a, p, l)
}

func (s crashStore) Finish(ctx context.Context, o, id string, a int, p jobs.Progress) error {
	if s.sw.down.Load() {
		return errCrashed
	}
	return s.Store.Finish(ctx, o, id, a, p)
}

func (s crashStore) Fail(ctx context.Context, o, id string, a int, f jobs.Failure) error {
	if s.sw.down.Load() {
		return errCrashed
	}
	return s.Store.Fail(ctx, o, id, a, f)
}

func (s crashStore) Release(ctx context.Context, o, id string, a int, w jobs.Wait) error {
	if s.sw.down.Load() {
		return errCrashed
	}
	return s.Store.Release(ctx, o, id, a, w)
}

type crashQueue struct {
	*sqsqueue.Lanes
	sw *crashSwitch
}

func (q crashQueue) ChangeVisibility(ctx context.Context, lane jobs.Lane, rh string, d time.Duration) error {
	if q.sw.down.Load() {
		return errCrashed
	}
	return q.Lanes.ChangeVisibility(ctx, lane, rh, d)
}

func (q crashQueue) SendAfter(ctx context.Context, m jobs.Message, d time.Duration) error {
	if q.sw.down.Load() {
		return errCrashed
	}
	return q.Lanes.SendAfter(ctx, m, d)
}
