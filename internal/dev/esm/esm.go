package esm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"
)

// Handler is an SQS-triggered Lambda handler with ReportBatchItemFailures
// on, such as (*worker.Worker).Handle.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// sqsAPI is what a Poller needs from SQS; *sqs.Client has it.
type sqsAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var _ sqsAPI = (*sqs.Client)(nil)

// Limits Lambda puts on an SQS event source mapping and its function.
const (
	maxReceive         = 10 // SQS's most messages per ReceiveMessage
	maxBatchSize       = 10_000
	maxBatchWindow     = 300 * time.Second
	maxWaitTime        = 20 * time.Second // SQS's longest long poll
	maxFunctionTimeout = 15 * time.Minute
)

// Options configure a Poller. Zero fields take the defaults named on each.
type Options struct {
	// QueueURL is the queue to poll. Required.
	QueueURL string
	// FunctionTimeout is the handler's deadline, as the function's timeout
	// is a Lambda handler's. Required; at most 15 minutes. Like Lambda, Run
	// refuses a queue whose visibility timeout is shorter.
	FunctionTimeout time.Duration
	// FunctionName names the function in the invocation's LambdaContext
	// (InvokedFunctionArn). Default "function".
	FunctionName string
	// BatchSize is the most messages per invocation: 1 to 10,000, default
	// 10. Above 10 needs a BatchWindow, as in Lambda.
	BatchSize int
	// BatchWindow is how long to keep gathering messages once the first
	// has arrived, until BatchSize is reached: whole seconds up to 5
	// minutes, default 0 (invoke with what one receive returns).
	BatchWindow time.Duration
	// Concurrency is how many batches may be in the handler at once (the
	// mapping's MaximumConcurrency). Default 2, Lambda's smallest.
	Concurrency int
	// WaitTime is each receive's long poll: whole seconds up to 20, the
	// default. Lambda always waits 20 s.
	WaitTime time.Duration
	// ReleaseOnStop makes the messages of invocations interrupted by the
	// end of Run's context visible again at once, as copies (and deletes
	// those the handler did finish), instead of leaving them hidden for
	// the rest of their visibility timeout.
	ReleaseOnStop bool
	// Logger receives errors and one debug line per invocation. Default
	// slog.Default().
	Logger *slog.Logger
	// OnInvoke, if set, is called after each invocation and its deletes,
	// from the goroutine that ran it.
	OnInvoke func(Invocation)
}

// Invocation is what happened to one batch.
type Invocation struct {
	Event    events.SQSEvent         // as the handler received it
	Response events.SQSEventResponse // as the handler returned it
	// Err is why the whole batch was left on the queue: the handler's
	// error, a panic, the function timeout, or an invalid response. Nil
	// when the handler's BatchItemFailures decided.
	Err error
	// Deleted are the ids of the messages deleted from the queue.
	Deleted []string
	// Interrupted reports that Run's context ended during the invocation.
	Interrupted bool
}

// Errors that fail a whole batch. Invocation.Err wraps them.
var (
	ErrTimeout         = errors.New("task timed out")
	ErrPanic           = errors.New("handler panicked")
	ErrInvalidResponse = errors.New("invalid batch item failures")
)

// Poller feeds one queue to one handler. Create it with [New].
type Poller struct {
	sqs  sqsAPI
	h    Handler
	opts Options
	log  *slog.Logger

	arn    string // the queue's, for eventSourceARN
	region string

	// settling: batches being settled after their invocation (deleted,
	// released, reported); Run waits for them.
	settling sync.WaitGroup
}

// New returns a poller of opts.QueueURL for h. client is usually an
// *sqs.Client.
func New(client sqsAPI, h Handler, opts Options) (*Poller, error) {
	if opts.BatchSize == 0 {
		opts.BatchSize = 10
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 2
	}
	if opts.WaitTime == 0 {
		opts.WaitTime = maxWaitTime
	}
	if opts.FunctionName == "" {
		opts.FunctionName = "function"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(client != nil && h != nil, "esm: a client and a handler are required")
	check(opts.QueueURL != "", "esm: QueueURL is required")
	check(opts.FunctionTimeout > 0 && opts.FunctionTimeout <= maxFunctionTimeout,
		"esm: FunctionTimeout %s must be above 0 and at most %s", opts.FunctionTimeout, maxFunctionTimeout)
	check(opts.BatchSize >= 1 && opts.BatchSize <= maxBatchSize, "esm: BatchSize %d must be within 1..%d", opts.BatchSize, maxBatchSize)
	check(opts.BatchWindow >= 0 && opts.BatchWindow <= maxBatchWindow && opts.BatchWindow%time.Second == 0,
		"esm: BatchWindow %s must be whole seconds up to %s", opts.BatchWindow, maxBatchWindow)
	check(opts.BatchSize <= maxReceive || opts.BatchWindow > 0,
		"esm: a BatchSize above %d needs a BatchWindow, as in Lambda", maxReceive)
	check(opts.Concurrency >= 1, "esm: Concurrency %d must be at least 1", opts.Concurrency)
	check(opts.WaitTime > 0 && opts.WaitTime <= maxWaitTime && opts.WaitTime%time.Second == 0,
		"esm: WaitTime %s must be whole seconds up to %s", opts.WaitTime, maxWaitTime)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Poller{sqs: client, h: h, opts: opts, log: opts.Logger}, nil
}

// Run polls until ctx ends, then waits for the batches in flight (whose
// contexts end with it) and returns nil. It returns an error at once if the
// queue cannot be described or its visibility timeout is shorter than the
// function timeout.
func (p *Poller) Run(ctx context.Context) error {
	if err := p.describeQueue(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for range p.opts.Concurrency {
		wg.Go(func() { p.loop(ctx) })
	}
	wg.Wait()
	p.settling.Wait()
	return nil
}

// describeQueue learns the queue's ARN and region and checks its
// visibility timeout, as CreateEventSourceMapping does.
func (p *Poller) describeQueue(ctx context.Context) error {
	out, err := p.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(p.opts.QueueURL),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameQueueArn, types.QueueAttributeNameVisibilityTimeout,
		},
	})
	if err != nil {
		return fmt.Errorf("esm: describe queue %s: %w", p.opts.QueueURL, err)
	}
	p.arn = out.Attributes[string(types.QueueAttributeNameQueueArn)]
	// arn:aws:sqs:<region>:<account>:<name>
	if parts := strings.Split(p.arn, ":"); len(parts) == 6 && parts[2] == "sqs" {
		p.region = parts[3]
	} else {
		return fmt.Errorf("esm: queue %s has no usable ARN (%q)", p.opts.QueueURL, p.arn)
	}
	if v, ok := out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)]; ok {
		secs, err := strconv.Atoi(v)
		if err == nil && time.Duration(secs)*time.Second < p.opts.FunctionTimeout {
			return fmt.Errorf("esm: queue visibility timeout: %d seconds is less than function timeout: %d seconds",
				secs, int(p.opts.FunctionTimeout/time.Second))
		}
	}
	return nil
}

// loop is one poller: receive a batch, invoke, settle, until ctx ends.
func (p *Poller) loop(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		msgs, err := p.collect(ctx)
		if len(msgs) > 0 {
			p.invoke(ctx, msgs)
		}
		if err != nil && ctx.Err() == nil {
			backoff = min(max(2*backoff, time.Second), maxWaitTime)
			p.log.Error("esm: receive failed; retrying", "queue", p.opts.QueueURL, "in", backoff, "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
	}
}

// collect receives one batch: what a long poll returns, topped up during
// the batching window.
func (p *Poller) collect(ctx context.Context) ([]types.Message, error) {
	msgs, err := p.receive(ctx, min(p.opts.BatchSize, maxReceive), p.opts.WaitTime)
	if err != nil || len(msgs) == 0 || p.opts.BatchWindow == 0 {
		return msgs, err
	}
	end := time.Now().Add(p.opts.BatchWindow)
	for len(msgs) < p.opts.BatchSize {
		left := time.Until(end)
		if left <= 0 {
			break
		}
		// Long polls come in whole seconds: round up, so the window is
		// at least what was asked for.
		wait := min(time.Duration(math.Ceil(left.Seconds()))*time.Second, maxWaitTime)
		more, err := p.receive(ctx, min(p.opts.BatchSize-len(msgs), maxReceive), wait)
		msgs = append(msgs, more...)
		if err != nil {
			// Invoke with what we have; the error is reported by the
			// caller's retry unless ctx ended.
			return msgs, err
		}
	}
	return msgs, nil
}

func (p *Poller) receive(ctx context.Context, n int, wait time.Duration) ([]types.Message, error) {
	out, err := p.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(p.opts.QueueURL),
		MaxNumberOfMessages: int32(n),
		WaitTimeSeconds:     int32(wait / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
			types.MessageSystemAttributeNameSenderId,
			types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp,
			types.MessageSystemAttributeNameMessageGroupId, // for a release's copy
		},
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", p.opts.QueueURL, err)
	}
	return out.Messages, nil
}

// systemAttributes are the message attributes Lambda passes on, in its
// events' order.
var systemAttributes = []string{
	string(types.MessageSystemAttributeNameApproximateReceiveCount),
	string(types.MessageSystemAttributeNameSentTimestamp),
	string(types.MessageSystemAttributeNameSenderId),
	string(types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp),
}

// Event builds the event Lambda would send for msgs, received from the
// queue with ARN arn in region.
func Event(arn, region string, msgs []types.Message) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, 0, len(msgs))}
	for _, m := range msgs {
		attrs := map[string]string{}
		for _, name := range systemAttributes {
			if v, ok := m.Attributes[name]; ok {
				attrs[name] = v
			}
		}
		mattrs := map[string]events.SQSMessageAttribute{}
		for k, v := range m.MessageAttributes {
			mattrs[k] = events.SQSMessageAttribute{
				StringValue:      v.StringValue,
				BinaryValue:      v.BinaryValue,
				StringListValues: nonNil(v.StringListValues),
				BinaryListValues: nonNil(v.BinaryListValues),
				DataType:         aws.ToString(v.DataType),
			}
		}
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:              aws.ToString(m.MessageId),
			ReceiptHandle:          aws.ToString(m.ReceiptHandle),
			Body:                   aws.ToString(m.Body),
			Md5OfBody:              aws.ToString(m.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
			Attributes:             attrs,
			MessageAttributes:      mattrs,
			EventSourceARN:         arn,
			EventSource:            "aws:sqs",
			AWSRegion:              region,
		})
	}
	return ev
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// stopWait is how long an interrupted invocation may take to return after
// its context ends, so that what it finished can still be deleted.
const stopWait = 5 * time.Second

// settleTimeout bounds the deletes and visibility changes after an
// invocation, which run even when Run's context has ended.
const settleTimeout = 10 * time.Second

type result struct {
	resp events.SQSEventResponse
	err  error
}

// invoke runs the handler on msgs and settles the batch.
func (p *Poller) invoke(ctx context.Context, msgs []types.Message) {
	ev, err := roundTrip[events.SQSEvent](Event(p.arn, p.region, msgs))
	if err != nil {
		// Cannot happen with the types above; leave the messages be.
		p.log.Error("esm: encode event", "error", err)
		return
	}
	requestID := uuid.NewString()
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, p.opts.FunctionTimeout)
	defer cancel()
	hctx = lambdacontext.NewContext(hctx, &lambdacontext.LambdaContext{
		AwsRequestID:       requestID,
		InvokedFunctionArn: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", p.region, account(p.arn), p.opts.FunctionName),
	})

	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("%w: %v\n%s", ErrPanic, r, debug.Stack())}
			}
		}()
		resp, err := p.h(hctx, ev)
		done <- result{resp: resp, err: err}
	}()

	var res result
	select {
	case res = <-done:
	case <-hctx.Done():
		if ctx.Err() != nil {
			// Stopping: give the handler a moment to say what it finished.
			select {
			case res = <-done:
			case <-time.After(stopWait):
				res.err = fmt.Errorf("%w: still running %s after the poller stopped", ErrTimeout, stopWait)
			}
		} else {
			// Lambda stops the function here; its answer, if any, comes
			// too late to count.
			res.err = fmt.Errorf("%w after %.2f seconds", ErrTimeout, p.opts.FunctionTimeout.Seconds())
		}
	}
	inv := Invocation{Event: ev, Response: res.resp, Err: res.err, Interrupted: ctx.Err() != nil}
	// The invocation has ended: as in Lambda, whose pollers delete a
	// batch's messages apart from the function, the concurrency it held
	// is free for the next batch while this one is settled.
	p.settling.Go(func() { p.settle(ctx, msgs, inv, requestID, start) })
}

// settle deletes the messages of an invocation's batch that it did not
// report failed (all of them kept if it failed as a whole), releases the
// others if it was interrupted by a stop, and reports it.
func (p *Poller) settle(ctx context.Context, msgs []types.Message, inv Invocation, requestID string, start time.Time) {
	ev := inv.Event
	if inv.Err == nil {
		inv.Response, inv.Err = roundTrip[events.SQSEventResponse](inv.Response)
	}
	failed := map[string]bool{}
	if inv.Err == nil {
		failed, inv.Err = failures(ev, inv.Response)
	}

	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer scancel()
	var ack, keep []types.Message
	for _, m := range msgs {
		if inv.Err == nil && !failed[aws.ToString(m.MessageId)] {
			ack = append(ack, m)
		} else {
			keep = append(keep, m)
		}
	}
	inv.Deleted = p.delete(sctx, ack)
	if inv.Interrupted && p.opts.ReleaseOnStop {
		p.release(sctx, keep)
	}

	log := p.log.With("request_id", requestID, "messages", len(msgs), "failed", len(keep),
		"duration_ms", time.Since(start).Milliseconds())
	if inv.Err != nil {
		log.Warn("esm: batch left on the queue", "error", inv.Err)
	} else {
		log.Debug("esm: batch done")
	}
	if p.opts.OnInvoke != nil {
		p.opts.OnInvoke(inv)
	}
}

// failures reads the response's BatchItemFailures. As Lambda does, it fails
// the whole batch when an identifier is empty or names no message of it.
func failures(ev events.SQSEvent, resp events.SQSEventResponse) (map[string]bool, error) {
	ids := map[string]bool{}
	for _, r := range ev.Records {
		ids[r.MessageId] = true
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		if !ids[f.ItemIdentifier] {
			return nil, fmt.Errorf("%w: itemIdentifier %q is not a message of the batch", ErrInvalidResponse, f.ItemIdentifier)
		}
		failed[f.ItemIdentifier] = true
	}
	return failed, nil
}

// delete removes msgs from the queue, ten at a time, and returns the ids
// deleted. A message that could not be deleted comes back later, and the
// handler sees it again, as with Lambda.
func (p *Poller) delete(ctx context.Context, msgs []types.Message) []string {
	var deleted []string
	for chunk := range chunks(msgs) {
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		out, err := p.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.opts.QueueURL), Entries: entries})
		if err != nil {
			p.log.Error("esm: delete processed messages", "queue", p.opts.QueueURL, "error", err)
			continue
		}
		for _, f := range out.Failed {
			p.log.Error("esm: delete processed message", "queue", p.opts.QueueURL, "code", aws.ToString(f.Code), "message", aws.ToString(f.Message))
		}
		for _, s := range out.Successful {
			if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && i < len(chunk) {
				deleted = append(deleted, aws.ToString(chunk[i].MessageId))
			}
		}
	}
	return deleted
}

// release makes msgs visible again at once: it sends a copy of each
// (body, message attributes and message group) and deletes the one
// received. Setting their visibility timeout to 0, what SQS offers for
// this, leaves them lost with a restart of the dev stack: kumo keeps such
// a message in flight until the next receive, and its snapshots leave
// messages in flight out, so a job interrupted by Ctrl-C would wait for
// the rescuer (105 minutes). A copy starts its receive count again; the
// job counts its own attempts. A message whose copy could not be sent is
// made visible in place instead.
func (p *Poller) release(ctx context.Context, msgs []types.Message) {
	for chunk := range chunks(msgs) {
		entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.SendMessageBatchRequestEntry{
				Id:                aws.String(strconv.Itoa(i)),
				MessageBody:       m.Body,
				MessageAttributes: m.MessageAttributes,
			}
			if g, ok := m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]; ok && g != "" {
				entries[i].MessageGroupId = aws.String(g)
			}
		}
		var sent, unsent []types.Message
		out, err := p.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(p.opts.QueueURL), Entries: entries})
		if err != nil {
			p.log.Error("esm: copy unfinished messages", "queue", p.opts.QueueURL, "error", err)
			unsent = chunk
		} else {
			ok := map[string]bool{}
			for _, s := range out.Successful {
				ok[aws.ToString(s.Id)] = true
			}
			for i, m := range chunk {
				if ok[strconv.Itoa(i)] {
					sent = append(sent, m)
				} else {
					unsent = append(unsent, m)
				}
			}
		}
		p.delete(ctx, sent)
		p.makeVisible(ctx, unsent)
	}
}

// makeVisible sets the visibility timeout of msgs (ten at most) to 0.
func (p *Poller) makeVisible(ctx context.Context, msgs []types.Message) {
	if len(msgs) == 0 {
		return
	}
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}
	}
	if _, err := p.sqs.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(p.opts.QueueURL), Entries: entries}); err != nil {
		p.log.Error("esm: release unfinished messages", "queue", p.opts.QueueURL, "error", err)
	}
}

// chunks yields msgs ten at a time, the most SQS batch calls take.
func chunks(msgs []types.Message) func(yield func([]types.Message) bool) {
	return func(yield func([]types.Message) bool) {
		for start := 0; start < len(msgs); start += maxReceive {
			if !yield(msgs[start:min(start+maxReceive, len(msgs))]) {
				return
			}
		}
	}
}

// roundTrip passes v through JSON, as an event or response does between
// Lambda and the runtime, so the handler sees exactly what it would there.
func roundTrip[T any](v T) (T, error) {
	var out T
	b, err := json.Marshal(v)
	if err != nil {
		return out, fmt.Errorf("%w: %v", ErrInvalidResponse, err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("%w: %v", ErrInvalidResponse, err)
	}
	return out, nil
}

// account is the account id in an ARN.
func account(arn string) string {
	if parts := strings.Split(arn, ":"); len(parts) > 4 {
		return parts[4]
	}
	return ""
}
