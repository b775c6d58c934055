package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
)

// Lanes is the jobs queues, one a lane: each message goes to its lane's
// queue (jobs.Lane.OrDefault for a message without one). It is safe for
// concurrent use.
type Lanes struct {
	queues map[jobs.Lane]*Queue
}

// LaneURLs is each lane's queue URL.
type LaneURLs map[jobs.Lane]string

// NewLanes returns the queues at urls, which must name one for every
// on-demand lane (jobs.Lanes), and may name the economy lane's (where
// the API sends economy jobs for the collector, internal/economy).
func NewLanes(client *sqs.Client, urls LaneURLs) (*Lanes, error) {
	l := &Lanes{queues: map[jobs.Lane]*Queue{}}
	var errs []error
	for _, lane := range jobs.Lanes {
		url := urls[lane]
		if url == "" {
			errs = append(errs, fmt.Errorf("the %s lane has no queue URL", lane))
			continue
		}
		l.queues[lane] = New(client, url)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if url := urls[jobs.LaneEconomy]; url != "" {
		l.queues[jobs.LaneEconomy] = New(client, url)
	}
	return l, nil
}

// Queue is lane's queue, or nil for a lane without one (the economy lane
// where it is not enabled).
func (l *Lanes) Queue(lane jobs.Lane) *Queue { return l.queues[lane.OrDefault()] }

// Has reports whether lane has a queue.
func (l *Lanes) Has(lane jobs.Lane) bool { return l.queues[lane.OrDefault()] != nil }

// errNoQueue is the error of a message for a lane without a queue.
func errNoQueue(lane jobs.Lane) error { return fmt.Errorf("the %s lane has no queue here", lane) }

// Send queues m on its lane.
func (l *Lanes) Send(ctx context.Context, m jobs.Message) error {
	if !l.Has(m.Lane) {
		return errNoQueue(m.Lane)
	}
	return l.Queue(m.Lane).Send(ctx, m)
}

// SendAfter queues m on its lane, visible after d (see Queue.SendAfter).
func (l *Lanes) SendAfter(ctx context.Context, m jobs.Message, d time.Duration) error {
	if !l.Has(m.Lane) {
		return errNoQueue(m.Lane)
	}
	return l.Queue(m.Lane).SendAfter(ctx, m, d)
}

// SendBatch queues ms, each on its lane, and returns one error per message
// (nil for each one sent), as Queue.SendBatch does.
func (l *Lanes) SendBatch(ctx context.Context, ms []jobs.Message) []error {
	errs := make([]error, len(ms))
	byLane := map[jobs.Lane][]int{}
	for i, m := range ms {
		lane := m.Lane.OrDefault()
		byLane[lane] = append(byLane[lane], i)
	}
	for lane, idx := range byLane {
		if !l.Has(lane) {
			for _, i := range idx {
				errs[i] = errNoQueue(lane)
			}
			continue
		}
		batch := make([]jobs.Message, len(idx))
		for k, i := range idx {
			batch[k] = ms[i]
		}
		for k, err := range l.Queue(lane).SendBatch(ctx, batch) {
			errs[idx[k]] = err
		}
	}
	return errs
}

// ChangeVisibility changes the visibility of a message received from
// lane's queue (see Queue.ChangeVisibility).
func (l *Lanes) ChangeVisibility(ctx context.Context, lane jobs.Lane, receiptHandle string, d time.Duration) error {
	return l.Queue(lane).ChangeVisibility(ctx, receiptHandle, d)
}

// Depth returns the approximate message counts of lane's queue.
func (l *Lanes) Depth(ctx context.Context, lane jobs.Lane) (Depth, error) {
	return l.Queue(lane).Depth(ctx)
}

// Queued is how many messages wait in lane's queue: not yet received, or
// sent to come back later (approximate, as SQS counts them).
func (l *Lanes) Queued(ctx context.Context, lane jobs.Lane) (int, error) {
	d, err := l.Depth(ctx, lane)
	if err != nil {
		return 0, err
	}
	return d.Visible + d.Delayed, nil
}

// Env is urls as the variables internal/app/appenv's LaneURLs reads.
func (urls LaneURLs) Env() map[string]string {
	env := map[string]string{}
	for lane, url := range urls {
		env[quota.QueueURLEnv(lane)] = url
	}
	return env
}
