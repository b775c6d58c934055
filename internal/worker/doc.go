// Package worker runs queued generation jobs: it is the SQS-triggered
// Lambda's handler, independent of which store, queue and model it is given.
//
// # One message
//
// A message is {"job_id", "owner"}. For each one the worker
//
//  1. claims the job in the store (queued → running, attempts += 1); the
//     claim's attempt number is a fencing token for every later write;
//  2. calls the model, collecting the streamed text;
//  3. about once per FlushInterval, and only when the text grew, writes the
//     text so far with SaveProgress, which also extends the lease; when the
//     text has not changed for a third of the lease it writes anyway, as a
//     heartbeat, so a model that is slow to start does not lose its lease;
//  4. writes the final text, token counts and stop reason with Finish.
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
//   - a transient error (throttling, unavailable, timeouts, network, store
//     errors) → the job is released (running → queued), the message's
//     visibility is set to a backoff that doubles with ApproximateReceiveCount,
//     and it is reported failed;
//   - the Lambda deadline → the model is stopped DeadlineMargin before it, the
//     job released and the message reported failed; a partial text is never
//     finished as succeeded;
//   - on the last allowed receive (ApproximateReceiveCount >= MaxReceiveCount)
//     any of the retry cases above first fails the job with
//     jobs.FailureRetries and a readable reason, so the message that then goes
//     to the dead-letter queue belongs to a job that says why it stopped;
//   - a job another worker holds (running, lease not expired): the message is
//     hidden until the lease ends and reported failed, so if that worker died
//     the job is claimed again, and if it lives the next delivery finds the job
//     terminal and is acknowledged. This is how duplicate deliveries cost no
//     second model call;
//   - a body that is not a job message, or names a job that does not exist,
//     can never succeed: it is reported failed with no delay, so it reaches
//     the dead-letter queue after MaxReceiveCount quick receives instead of
//     being silently dropped.
//
// # Models
//
// A [Model] reports errors as *jobs.Error values: kinds KindInvalid,
// KindUnauthorized, KindNotFound and KindTooLarge are permanent; every other
// error, including ones that are not *jobs.Error, is retried. See [Retryable].
//
// # Logs
//
// Every line carries job_id, user (the owner's sub), attempt and the SQS
// message_id where known; prompts and generated text are never logged.
package worker
