// Package eventbus puts promptq's events on an Amazon EventBridge event bus
// with PutEvents.
//
// PutEvents takes at most 10 entries a call, each at most 256 KB, and
// reports failures per entry: a call can succeed while some of its entries
// were refused (FailedEntryCount, and an ErrorCode on each refused entry).
// [Bus.Put] sends in order, retries refused entries a few times, and says
// how many events from the start are known to be on the bus, so that a
// caller reading a stream can checkpoint there and have the rest sent
// again. An event may therefore be put more than once (at-least-once);
// consumers deduplicate by an id in its detail.
package eventbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Limits of PutEvents (EventBridge API reference).
const (
	MaxEntries   = 10         // entries per call
	MaxEntrySize = 256 * 1024 // bytes per entry, as EventBridge counts them
	timeSize     = 14         // what an entry's Time counts for
)

// ErrTooLarge is returned for an event that EventBridge would refuse for its
// size; sending it again cannot help.
var ErrTooLarge = errors.New("event larger than 256 KB")

// Event is one event to put.
type Event struct {
	DetailType string
	Detail     []byte // a JSON object
	Time       time.Time
}

// putEventsAPI is what a Bus needs; *eventbridge.Client has it.
type putEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ putEventsAPI = (*eventbridge.Client)(nil)

// Options configure a Bus. Bus and Source are required.
type Options struct {
	// Bus is the event bus's name or ARN.
	Bus string
	// Source is every event's source.
	Source string
	// Attempts is how often an entry is sent before Put gives up on it
	// (the SDK's own retries of a failed call come on top). Default 3.
	Attempts int
	// Backoff is the wait before the first resend of refused entries,
	// doubled for each further one. Default 200 ms.
	Backoff time.Duration
}

// Bus puts events on one event bus. Create it with [New].
type Bus struct {
	client putEventsAPI
	opts   Options
}

// New returns a Bus sending with client.
func New(client putEventsAPI, opts Options) (*Bus, error) {
	if client == nil || opts.Bus == "" || opts.Source == "" {
		return nil, errors.New("eventbus: a client, a bus and a source are required")
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 200 * time.Millisecond
	}
	return &Bus{client: client, opts: opts}, nil
}

// Size is the size EventBridge counts for ev from this bus's source.
func (b *Bus) Size(ev Event) int {
	return len(b.opts.Source) + len(ev.DetailType) + len(ev.Detail) + timeSize
}

// Put sends evs in order, at most ten a call, and returns how many of them,
// from the first, are known to be on the bus. When that is not all of them,
// err says why the next one could not be put; events after it may or may not
// have been put.
func (b *Bus) Put(ctx context.Context, evs []Event) (int, error) {
	for start := 0; start < len(evs); start += MaxEntries {
		chunk := evs[start:min(start+MaxEntries, len(evs))]
		n, err := b.putChunk(ctx, chunk)
		if err != nil {
			return start + n, err
		}
	}
	return len(evs), nil
}

// putChunk puts at most ten events and returns how many from the first are
// on the bus.
func (b *Bus) putChunk(ctx context.Context, evs []Event) (int, error) {
	for i, ev := range evs {
		if size := b.Size(ev); size > MaxEntrySize {
			// Put the events before it, then stop there.
			n, err := b.putChunk(ctx, evs[:i])
			if err != nil {
				return n, err
			}
			return i, fmt.Errorf("put event %d: %w (%d bytes)", i, ErrTooLarge, size)
		}
	}
	done := make([]bool, len(evs))
	prefix := func() int {
		for i, d := range done {
			if !d {
				return i
			}
		}
		return len(done)
	}
	wait := b.opts.Backoff
	var lastErr error
	for attempt := 1; attempt <= b.opts.Attempts; attempt++ {
		if attempt > 1 {
			select {
			case <-ctx.Done():
				return prefix(), fmt.Errorf("put events: %w (after: %w)", ctx.Err(), lastErr)
			case <-time.After(wait):
			}
			wait *= 2
		}
		var pending []int
		var entries []types.PutEventsRequestEntry
		for i, ev := range evs {
			if done[i] {
				continue
			}
			pending = append(pending, i)
			entries = append(entries, types.PutEventsRequestEntry{
				EventBusName: aws.String(b.opts.Bus),
				Source:       aws.String(b.opts.Source),
				DetailType:   aws.String(ev.DetailType),
				Detail:       aws.String(string(ev.Detail)),
				Time:         aws.Time(ev.Time),
			})
		}
		if len(pending) == 0 {
			break
		}
		out, err := b.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			// The SDK has retried what it retries; the whole call failed.
			lastErr = fmt.Errorf("put events on %s: %w", b.opts.Bus, err)
			continue
		}
		if len(out.Entries) != len(entries) {
			lastErr = fmt.Errorf("put events on %s: %d results for %d entries", b.opts.Bus, len(out.Entries), len(entries))
			continue
		}
		lastErr = nil
		for k, res := range out.Entries {
			if res.ErrorCode == nil && res.EventId != nil {
				done[pending[k]] = true
			} else if lastErr == nil {
				lastErr = fmt.Errorf("put events on %s: entry refused: %s: %s",
					b.opts.Bus, aws.ToString(res.ErrorCode), aws.ToString(res.ErrorMessage))
			}
		}
	}
	if n := prefix(); n < len(evs) {
		return n, lastErr
	}
	return len(evs), nil
}
