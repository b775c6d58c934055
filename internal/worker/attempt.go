package worker

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/jobs"
)

// attempt is one message's attempt at its job, the value the worker's
// decisions read: what the message asks (its job, owner, lane, model, and
// the throttles and displacements it has been through), where it came
// from (the lane whose queue holds it, and with it its visibility), its
// receive count and whether it is the last the queue's redrive policy
// allows, its log, and, once claimed, the job.
type attempt struct {
	msg     jobs.Message
	source  jobs.Lane
	receive int
	last    bool
	log     *slog.Logger
	// bodyErr says why the body is no job message (decodeMessage), of
	// bodyBytes bytes; msg is then what could be read of it.
	bodyErr   error
	bodyBytes int

	job     jobs.Job  // as claimed: its Attempts is every write's fencing token
	started time.Time // when the job's run began, after the claim
}

// newAttempt reads m once: its body as a job message, the lane it came
// from and its receive count.
func (w *Worker) newAttempt(m events.SQSMessage) *attempt {
	receive := receiveCount(m)
	msg, err := decodeMessage(m.Body)
	at := &attempt{
		msg:       msg,
		source:    w.sourceLane(m.EventSourceARN, msg.Lane),
		receive:   receive,
		last:      receive >= w.cfg.MaxReceiveCount,
		log:       w.log.With("message_id", m.MessageId, "receive", receive),
		bodyErr:   err,
		bodyBytes: len(m.Body),
	}
	if err == nil {
		at.log = at.log.With("job_id", msg.JobID, "user", msg.Owner, "lane", msg.Lane)
	}
	return at
}

// claimed records the job as the claim returned it.
func (at *attempt) claimed(job jobs.Job) {
	at.job = job
	at.log = at.log.With("attempt", job.Attempts)
}

// sourceLane is the lane of the queue a message was received from: the
// one whose queue's name ends its event source ARN, or else the lane its
// body names, as decoded (the interactive lane when it names none).
func (w *Worker) sourceLane(arn string, named jobs.Lane) jobs.Lane {
	if i := strings.LastIndexByte(arn, ':'); i >= 0 {
		name := arn[i+1:]
		for lane, url := range w.cfg.QueueURLs {
			if j := strings.LastIndexByte(url, '/'); j >= 0 && url[j+1:] == name {
				return lane
			}
		}
	}
	if !named.OnDemand() {
		return jobs.LaneInteractive
	}
	return named
}

// call is one model call of an attempt: what it asks, the answer as it
// grows, the continuations the job will have made, and how it ended.
type call struct {
	req           jobs.Request
	text          *answer
	continuations int
	// stored is the text the store holds once the flusher is done.
	stored string
	// stop ends the call with a cause (the flusher's: errYield,
	// errStopped); ended is closed once it has ended.
	stop  context.CancelCauseFunc
	ended <-chan struct{}
	// result and err are what the model returned; cause is why its
	// context ended (errYield, errStopped, errDeadline), or nil.
	result jobs.Progress
	err    error
	cause  error
}

// wrote reports whether the call wrote text or used tokens: whether
// stopping it leaves anything to keep.
func (c *call) wrote() bool { return c.text.wrote() || c.result.Tokens.Total() > 0 }
