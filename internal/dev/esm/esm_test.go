package esm_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/promptq/promptq/internal/dev/esm"
	"github.com/promptq/promptq/internal/dev/standin"
)

// bundle is one test's queue on kumo and the invocations its poller made.
type bundle struct {
	client *sqs.Client
	url    string
	invs   chan esm.Invocation
}

// setup makes a queue with the given visibility timeout on kumo.
func setup(t *testing.T, visibility time.Duration) *bundle {
	t.Helper()
	k := standin.Kumo(t)
	out, err := k.SQS.CreateQueue(t.Context(), &sqs.CreateQueueInput{
		QueueName:  aws.String(standin.UniqueName(t)),
		Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(int(visibility / time.Second))},
	})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	return &bundle{client: k.SQS, url: aws.ToString(out.QueueUrl), invs: make(chan esm.Invocation, 100)}
}

// start runs a poller of b's queue until the test ends, or until the
// returned stop is called, which waits for Run to return.
func (b *bundle) start(t *testing.T, h esm.Handler, opts esm.Options) (stop func()) {
	t.Helper()
	opts.QueueURL = b.url
	if opts.FunctionTimeout == 0 {
		opts.FunctionTimeout = time.Second
	}
	opts.Logger = testLogger(t)
	opts.OnInvoke = func(inv esm.Invocation) { b.invs <- inv }
	p, err := esm.New(b.client, h, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func (b *bundle) send(t *testing.T, bodies ...string) {
	t.Helper()
	for _, body := range bodies {
		if _, err := b.client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(b.url), MessageBody: aws.String(body)}); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
	}
}

// left counts the messages still on the queue, visible or not.
func (b *bundle) left(t *testing.T) int {
	t.Helper()
	waiting, inFlight := b.counts(t)
	return waiting + inFlight
}

// counts is how many messages wait on the queue and how many are in
// flight, as SQS counts them.
func (b *bundle) counts(t *testing.T) (waiting, inFlight int) {
	t.Helper()
	out, err := b.client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(b.url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	waiting, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	inFlight, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return waiting, inFlight
}

// next waits for the next invocation.
func (b *bundle) next(t *testing.T) esm.Invocation {
	t.Helper()
	select {
	case inv := <-b.invs:
		return inv
	case <-t.Context().Done():
		t.Fatal("test ended before the next invocation")
		return esm.Invocation{}
	}
}

// untilSeen collects invocations until every body in want has been
// handled, and returns them.
func (b *bundle) untilSeen(t *testing.T, want ...string) []esm.Invocation {
	t.Helper()
	seen := map[string]bool{}
	var invs []esm.Invocation
	for len(seen) < len(want) {
		inv := b.next(t)
		invs = append(invs, inv)
		for _, r := range inv.Event.Records {
			if slices.Contains(want, r.Body) {
				seen[r.Body] = true
			}
		}
	}
	return invs
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func ok(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return events.SQSEventResponse{}, nil
}

func TestEventHasTheShapeLambdaSends(t *testing.T) {
	t.Parallel()
	b := setup(t, 30*time.Second)
	var got events.SQSEvent
	var lc *lambdacontext.LambdaContext
	var deadline time.Time
	var called time.Time
	b.start(t, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		called = time.Now()
		got = ev
		lc, _ = lambdacontext.FromContext(ctx)
		deadline, _ = ctx.Deadline()
		return events.SQSEventResponse{}, nil
	}, esm.Options{FunctionTimeout: 7 * time.Second, FunctionName: "worker"})
	sent := time.Now()
	b.send(t, `{"job_id":"j1","owner":"u1"}`)
	inv := b.next(t)
	if inv.Err != nil {
		t.Fatalf("invocation failed: %v", inv.Err)
	}

	if len(got.Records) != 1 {
		t.Fatalf("records = %d, want 1", len(got.Records))
	}
	r := got.Records[0]
	sum := md5.Sum([]byte(r.Body))
	arn := "arn:aws:sqs:us-east-1:000000000000:" + b.url[strings.LastIndex(b.url, "/")+1:]
	for _, c := range []struct{ name, got, want string }{
		{"body", r.Body, `{"job_id":"j1","owner":"u1"}`},
		{"eventSource", r.EventSource, "aws:sqs"},
		{"eventSourceARN", r.EventSourceARN, arn},
		{"awsRegion", r.AWSRegion, "us-east-1"},
		{"md5OfBody", r.Md5OfBody, hex.EncodeToString(sum[:])},
		{"ApproximateReceiveCount", r.Attributes["ApproximateReceiveCount"], "1"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if r.MessageId == "" || r.ReceiptHandle == "" {
		t.Errorf("messageId %q, receiptHandle %q: want both", r.MessageId, r.ReceiptHandle)
	}
	for _, name := range []string{"SentTimestamp", "ApproximateFirstReceiveTimestamp"} {
		ms, err := strconv.ParseInt(r.Attributes[name], 10, 64)
		if err != nil || ms < sent.Add(-time.Minute).UnixMilli() {
			t.Errorf("attribute %s = %q, want epoch milliseconds", name, r.Attributes[name])
		}
	}
	if lc == nil || lc.AwsRequestID == "" || lc.InvokedFunctionArn != "arn:aws:lambda:us-east-1:000000000000:function:worker" {
		t.Errorf("lambda context = %+v", lc)
	}
	if deadline.IsZero() || deadline.After(called.Add(7*time.Second)) || deadline.Before(sent) {
		t.Errorf("deadline %v, want at most the 7 s function timeout after the call at %v", deadline, called)
	}

	// Every key of a real Lambda SQS record is in ours, and no other.
	real, err := os.ReadFile("testdata/sqs-event.json")
	if err != nil {
		t.Fatal(err)
	}
	want := recordKeys(t, real)
	ours, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if have := recordKeys(t, ours); !slices.Equal(have, want) {
		t.Errorf("record keys = %v, want those of a Lambda event %v", have, want)
	}
}

func recordKeys(t *testing.T, b []byte) []string {
	t.Helper()
	var ev struct{ Records []map[string]json.RawMessage }
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range ev.Records[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestOnlyTheFailedMessagesComeBack(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Second)
	var mu sync.Mutex
	receives := map[string][]string{} // body → ApproximateReceiveCount of each delivery
	failB := true
	// kumo wakes a long poll for new messages only, not for one whose
	// visibility timeout ends: poll often so b comes back soon.
	b.start(t, func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		var resp events.SQSEventResponse
		for _, r := range ev.Records {
			receives[r.Body] = append(receives[r.Body], r.Attributes["ApproximateReceiveCount"])
			if r.Body == "b" && failB {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return resp, nil
	}, esm.Options{WaitTime: time.Second})
	b.send(t, "a", "b", "c")

	for _, inv := range b.untilSeen(t, "a", "b", "c") {
		if inv.Err != nil {
			t.Fatalf("invocation failed: %v", inv.Err)
		}
	}
	if n := b.left(t); n != 1 {
		t.Errorf("after the first deliveries %d messages are left, want 1 (b)", n)
	}
	// b comes back each time its visibility timeout ends; let it succeed.
	mu.Lock()
	failB = false
	mu.Unlock()
	for done := false; !done; {
		inv := b.next(t)
		for _, r := range inv.Event.Records {
			done = done || r.Body == "b" && slices.Contains(inv.Deleted, r.MessageId)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(receives["a"]) != 1 || len(receives["c"]) != 1 {
		t.Errorf("a delivered %d times, c %d times; want once each", len(receives["a"]), len(receives["c"]))
	}
	for i, n := range receives["b"] {
		if n != strconv.Itoa(i+1) {
			t.Errorf("b's receive counts = %v, want 1, 2, ...", receives["b"])
			break
		}
	}
	if len(receives["b"]) < 2 {
		t.Errorf("b delivered %d times, want at least twice", len(receives["b"]))
	}
	if n := b.left(t); n != 0 {
		t.Errorf("%d messages left, want none", n)
	}
}

func TestTheWholeBatchStaysWhenTheInvocationFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler esm.Handler
		want    error
	}{
		{"the handler returns an error", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, errors.New("boom")
		}, nil},
		{"the handler panics", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			panic("boom")
		}, esm.ErrPanic},
		{"the handler runs past the timeout", func(ctx context.Context, _ events.SQSEvent) (events.SQSEventResponse, error) {
			<-ctx.Done()
			time.Sleep(100 * time.Millisecond) // past the deadline, as a handler ignoring it would be
			return events.SQSEventResponse{}, nil
		}, esm.ErrTimeout},
		{"a failure names no message of the batch", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "not-a-message"}}}, nil
		}, esm.ErrInvalidResponse},
		{"a failure has an empty identifier", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{}}}, nil
		}, esm.ErrInvalidResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, 30*time.Second)
			b.send(t, "a", "b")
			stop := b.start(t, tt.handler, esm.Options{})
			invs := b.untilSeen(t, "a", "b")
			stop()
			for _, inv := range invs {
				if inv.Err == nil || tt.want != nil && !errors.Is(inv.Err, tt.want) {
					t.Errorf("invocation error = %v, want %v", inv.Err, tt.want)
				}
				if len(inv.Deleted) != 0 {
					t.Errorf("deleted %v, want none", inv.Deleted)
				}
			}
			if n := b.left(t); n != 2 {
				t.Errorf("%d messages left, want both", n)
			}
		})
	}
}

func TestABatchingWindowFillsBatchesBeyondOneReceive(t *testing.T) {
	t.Parallel()
	b := setup(t, 30*time.Second)
	var bodies []string
	for i := range 15 {
		bodies = append(bodies, strconv.Itoa(i))
	}
	b.send(t, bodies...)
	b.start(t, ok, esm.Options{BatchSize: 15, BatchWindow: time.Second, Concurrency: 1})
	inv := b.next(t)
	if len(inv.Event.Records) != 15 || len(inv.Deleted) != 15 {
		t.Errorf("one invocation had %d messages and deleted %d, want all 15", len(inv.Event.Records), len(inv.Deleted))
	}
}

func TestConcurrencyBoundsTheBatchesInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t, 30*time.Second)
	var mu sync.Mutex
	inFlight, most := 0, 0
	release := make(chan struct{})
	two := make(chan struct{})
	var twoOnce sync.Once // in flight can reach 2 again after the release
	b.start(t, func(ctx context.Context, _ events.SQSEvent) (events.SQSEventResponse, error) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == 2 {
			twoOnce.Do(func() { close(two) })
		}
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
		return events.SQSEventResponse{}, nil
	}, esm.Options{BatchSize: 1, Concurrency: 2, FunctionTimeout: 30 * time.Second})
	b.send(t, "a", "b", "c", "d", "e")
	<-two
	close(release)
	b.untilSeen(t, "a", "b", "c", "d", "e")
	mu.Lock()
	defer mu.Unlock()
	if most != 2 {
		t.Errorf("at most %d batches ran at once, want 2", most)
	}
}

func TestStoppingReleasesUnfinishedMessages(t *testing.T) {
	t.Parallel()
	b := setup(t, 5*time.Minute)
	for _, body := range []string{"a", "b", "c"} { // before the start: one receive takes all three
		if _, err := b.client.SendMessage(t.Context(), &sqs.SendMessageInput{
			QueueUrl:          aws.String(b.url),
			MessageBody:       aws.String(body),
			MessageAttributes: map[string]types.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("job")}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	started := make(chan struct{})
	stop := b.start(t, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		// The first message finishes; the rest are still running when
		// the poller stops, and are reported failed.
		close(started)
		<-ctx.Done()
		var resp events.SQSEventResponse
		for _, r := range ev.Records[1:] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
		return resp, nil
	}, esm.Options{ReleaseOnStop: true, FunctionTimeout: time.Minute, Concurrency: 1})
	<-started
	stop()
	inv := b.next(t)
	if !inv.Interrupted || len(inv.Deleted) != 1 {
		t.Errorf("interrupted %v, deleted %v: want interrupted, first message deleted", inv.Interrupted, inv.Deleted)
	}
	// Waiting in the queue at once, none in flight: kumo's snapshots leave
	// messages in flight out, so those would be lost with a restart of
	// the dev stack.
	if waiting, inFlight := b.counts(t); waiting != 2 || inFlight != 0 {
		t.Errorf("after the stop %d messages wait and %d are in flight, want 2 and 0", waiting, inFlight)
	}
	// Visible again at once, not after five minutes, with their bodies
	// and message attributes.
	out, err := b.client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(b.url), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range out.Messages {
		got = append(got, aws.ToString(m.Body)+"/"+aws.ToString(m.MessageAttributes["kind"].StringValue))
	}
	slices.Sort(got)
	var want []string
	for _, r := range inv.Event.Records[1:] {
		want = append(want, r.Body+"/job")
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("visible after the stop: %q, want %q", got, want)
	}
}

func TestRunRefusesAVisibilityTimeoutShorterThanTheFunctionTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, 10*time.Second)
	p, err := esm.New(b.client, ok, esm.Options{QueueURL: b.url, FunctionTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "less than function timeout") {
		t.Errorf("Run = %v, want Lambda's visibility timeout error", err)
	}
}

func TestNewRejectsWhatLambdaRejects(t *testing.T) {
	t.Parallel()
	client := &sqs.Client{}
	valid := esm.Options{QueueURL: "http://q", FunctionTimeout: time.Second}
	tests := []struct {
		name   string
		change func(*esm.Options)
		want   string
	}{
		{"no queue", func(o *esm.Options) { o.QueueURL = "" }, "QueueURL"},
		{"no timeout", func(o *esm.Options) { o.FunctionTimeout = 0 }, "FunctionTimeout"},
		{"timeout over 15 minutes", func(o *esm.Options) { o.FunctionTimeout = 16 * time.Minute }, "FunctionTimeout"},
		{"batch over 10 without a window", func(o *esm.Options) { o.BatchSize = 11 }, "BatchWindow"},
		{"batch over 10,000", func(o *esm.Options) { o.BatchSize = 10_001; o.BatchWindow = time.Second }, "BatchSize"},
		{"window not in seconds", func(o *esm.Options) { o.BatchWindow = 1500 * time.Millisecond }, "BatchWindow"},
		{"long poll over 20 s", func(o *esm.Options) { o.WaitTime = 21 * time.Second }, "WaitTime"},
		{"negative concurrency", func(o *esm.Options) { o.Concurrency = -1 }, "Concurrency"},
	}
	if _, err := esm.New(client, ok, valid); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := valid
			tt.change(&o)
			_, err := esm.New(client, ok, o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
