package jobevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/eventbus"
	"github.com/promptq/promptq/internal/jobs"
)

// bus puts events in order and says how many from the first are on the
// bus; *eventbus.Bus is one.
type bus interface {
	Put(ctx context.Context, evs []eventbus.Event) (int, error)
}

var _ bus = (*eventbus.Bus)(nil)

// Options configure a Handler.
type Options struct {
	// Metrics receives the EMF lines. Default os.Stdout, where Lambda
	// sends it to CloudWatch Logs.
	Metrics io.Writer
	// Logger, default slog.Default().
	Logger *slog.Logger
}

// Handler turns stream records into events and metrics. Create it with
// [New].
type Handler struct {
	bus     bus
	log     *slog.Logger
	mu      sync.Mutex // one EMF line at a time
	metrics io.Writer
}

// New returns a Handler putting events on b.
func New(b bus, opts Options) *Handler {
	if opts.Metrics == nil {
		opts.Metrics = os.Stdout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Handler{bus: b, log: opts.Logger, metrics: opts.Metrics}
}

// pending is a record whose event is to be put.
type pending struct {
	seq string
	f   Finished
}

// Handle is the Lambda handler for the jobs table's stream, with
// ReportBatchItemFailures on. It never returns an error: a record that can't
// be handled (an event that can't be put, an image that can't be read) is
// reported as the batch's item failure, and Lambda retries from it.
func (h *Handler) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var todo []pending
	var failAt string // the first record that can't be handled
	for _, r := range ev.Records {
		f, ok, err := finishedFrom(r)
		if err != nil {
			h.log.ErrorContext(ctx, "unreadable stream record; the batch is retried from it",
				"sequence_number", r.Change.SequenceNumber, "event_id", r.EventID, "error", err)
			failAt = r.Change.SequenceNumber
			break
		}
		if ok {
			todo = append(todo, pending{seq: r.Change.SequenceNumber, f: f})
		}
	}

	evs := make([]eventbus.Event, 0, len(todo))
	for _, p := range todo {
		detail, err := json.Marshal(p.f)
		if err != nil {
			// Cannot happen with Finished's field types.
			return events.DynamoDBEventResponse{}, fmt.Errorf("encode event of job %s: %w", p.f.JobID, err)
		}
		evs = append(evs, eventbus.Event{DetailType: DetailType, Detail: detail, Time: p.f.FinishedAt})
	}
	sent, err := h.bus.Put(ctx, evs)
	for _, p := range todo[:sent] {
		h.recordMetrics(ctx, p.f)
	}
	if sent < len(todo) {
		p := todo[sent]
		h.log.ErrorContext(ctx, "could not announce a finished job; the batch is retried from it",
			"job_id", p.f.JobID, "sequence_number", p.seq, "sent", sent, "of", len(todo), "error", err)
		failAt = p.seq
	}
	h.log.InfoContext(ctx, "stream batch handled", "records", len(ev.Records), "finished", len(todo), "announced", sent)
	if failAt == "" {
		return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}, nil
	}
	return events.DynamoDBEventResponse{
		BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: failAt}},
	}, nil
}

func (h *Handler) recordMetrics(ctx context.Context, f Finished) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := writeMetrics(h.metrics, f); err != nil {
		// Metrics are not worth a retry that would announce jobs again.
		h.log.WarnContext(ctx, "could not write a finished job's metrics", "job_id", f.JobID, "error", err)
	}
}

// ErrNoImages is a MODIFY record without its new and old images: the
// stream's view type lacks them.
var ErrNoImages = errors.New("stream record lacks its images (the stream must be NEW_AND_OLD_IMAGES)")

// finishedFrom returns the event for r when r is a job moving into a
// terminal status, and ok false for every other record.
func finishedFrom(r events.DynamoDBEventRecord) (f Finished, ok bool, err error) {
	if r.EventName != string(events.DynamoDBOperationTypeModify) {
		return Finished{}, false, nil
	}
	if r.Change.NewImage == nil || r.Change.OldImage == nil {
		return Finished{}, false, ErrNoImages
	}
	newImage, err := attributeValues(r.Change.NewImage)
	if err != nil {
		return Finished{}, false, fmt.Errorf("new image: %w", err)
	}
	j, isJob, err := dynamo.JobFromImage(newImage)
	if !isJob || err != nil || !j.Status.Terminal() {
		return Finished{}, false, err
	}
	// Only the transition announces: a later write to a job that had
	// already ended is not a second ending.
	if old, ok := r.Change.OldImage["status"]; ok && old.DataType() == events.DataTypeString && jobs.Status(old.String()).Terminal() {
		return Finished{}, false, nil
	}
	return FinishedFrom(j), true, nil
}
