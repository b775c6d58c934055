// Package worker runs queued generation jobs: it is the SQS-triggered
// Lambda's handler, independent of which store, queue and model it is given.
//
// # One message
//
// A message is a jobs.Message: the job's id and owner, its lane, model and
// worst-case tokens. The worker reads each once into an attempt (attempt.go:
// the message, the lane whose queue it came from, its receive count, its
// log, and once claimed the job), which every decision about it reads
// (worker.go: process, claim, run, decide). For each one the worker
//
//  1. admits the job, before touching it: its owner must run fewer of the
//     lane's jobs than their fair share, the model's pace must have room
//     for its tokens, and the job must take one of the model's seats, of
//     which there are as many as generations may run on it at once, across
//     lanes (see internal/quota): any free one, or, for an interactive job
//     when every seat is busy, one lent to the bulk lane, which the bulk
//     job on it gives back at its next flush. A job waits in place a few
//     seconds at most; a job that must wait longer goes back as a new
//     message, delayed, and this one is acknowledged;
//  2. claims the job in the store (queued → running, attempts += 1); the
//     claim's attempt number is a fencing token for every later write;
//  3. calls the model, collecting the streamed text; a job with text from
//     an earlier call goes on from it, as its model allows (see answer);
//  4. about once per FlushInterval, and only when the text grew, writes the
//     text so far with SaveProgress, which also extends the lease and
//     says when the next write is due (a job nobody polls, of any lane,
//     only every jobs.UnwatchedFlushInterval); when the
//     text has not changed for a third of the lease it writes anyway, as a
//     heartbeat, so a model that is slow to start does not lose its lease;
//  5. gives its seat back as soon as the call ends, then writes the final
//     text, token counts and stop reason with Finish, and gives back its
//     fair-share slot and the tokens it did not use.
//
// # What happens to the message
//
// The handler acknowledges a message (leaves it out of BatchItemFailures) when
// nothing more can be done with it, and reports it as failed when SQS should
// deliver it again:
//
//   - success, a job already terminal, cancellation → acknowledged;
//   - a permanent model error (invalid request, access denied, unknown model)
//     → the job fails with the model's reason, acknowledged;
//   - a throttle from the model (its quota) → the job is released, the
//     model's pace slows every worker down, and the job's message is sent
//     again after a backoff that doubles with its throttles; this one is
//     acknowledged, so a throttle uses up no receive. A job throttled for
//     ThrottleGiveUpAfter fails (jobs.FailureThrottled);
//   - a job that must wait for its owner's fair share or the model's pace
//     → its message is sent again, delayed, and this one acknowledged; if
//     that send fails, this one is reported failed with the same delay;
//   - a transient error (unavailable, timeouts, network, store errors) →
//     the text written so far is saved, the job is released (running →
//     queued), the message's visibility is set to a backoff that doubles
//     with ApproximateReceiveCount, and it is reported failed; the next
//     attempt continues the text (jobs.Job.NextRequest);
//   - a lent seat asked back (by an interactive job, or, for a seat
//     borrowed past its owner's fair share, by a bulk job within its own)
//     → the model is stopped at the next flush, every word written so far
//     saved, the job released and its message sent again at once, marked
//     displaced (it then takes only a seat of its lane's own and never
//     borrows past its share, so it is never displaced again); this
//     one is acknowledged, so yielding uses up no receive, and the next
//     call goes on from the text, paying no output twice;
//   - the Lambda deadline → the model is stopped DeadlineMargin before it,
//     the text so far saved and the job released; if the call continued
//     the answer and wrote something, the job's message is sent again at
//     once and this one acknowledged (a long answer uses up no receives;
//     max_tokens bounds how often), otherwise the message is reported
//     failed; a partial text is never finished as succeeded;
//   - on the last allowed receive (ApproximateReceiveCount >= MaxReceiveCount)
//     any of the retry cases above first fails the job with
//     jobs.FailureRetries and a readable reason, so the message that then goes
//     to the dead-letter queue belongs to a job that says why it stopped;
//   - a job another worker holds (running, lease not expired): the message
//     is a copy (a replay's or a rescue's) and is acknowledged, since that
//     worker holds the job's own message, which comes back after the
//     visibility timeout if the worker dies. Duplicate deliveries cost no
//     second model call and never circle until the dead-letter queue;
//   - a body that is not a job message, or names a job that does not exist,
//     can never succeed: it is reported failed with no delay, so it reaches
//     the dead-letter queue after MaxReceiveCount quick receives instead of
//     being silently dropped.
//
// # Models
//
// A [Model] reports errors as *jobs.Error values: kinds KindInvalid,
// KindUnauthorized, KindNotFound and KindTooLarge are permanent;
// KindRateLimited is a throttle (above); every other error, including ones
// that are not *jobs.Error, is retried. See [Retryable].
//
// # Logs
//
// Every line carries job_id, user (the owner's sub), attempt and the SQS
// message_id where known; prompts and generated text are never logged.
package worker
