// Package jobevents announces finished jobs. It is the code of the jobevents
// Lambda, which the jobs table's DynamoDB stream feeds: for every record of
// a job moving from queued or running into a terminal status (succeeded,
// failed, cancelled, whoever wrote it: the worker, the API's cancel, the
// rescuer, the DLQ tool's purge), it
//
//   - puts one "Job finished" event (source "promptq") on the EventBridge
//     bus, with the job's id, owner, lane, model, status, failure code,
//     tokens and times, and never its prompt, system prompt or text;
//   - writes one CloudWatch embedded metric format line with the job's queue
//     wait, duration, tokens and outcome, by lane and model.
//
// # Delivery
//
// The event source mapping's filter lets only such transitions through;
// [Handler.Handle] checks again and skips anything else, so it is correct
// without the filter. Records are handled in stream order. When an event
// cannot be put, Handle reports that record's sequence number as the
// batch's item failure: Lambda checkpoints before it and retries from it
// (with bisection, a bounded number of times, then the on-failure
// destination). Records after it are sent again with the retry, so an
// event can arrive more than once: delivery is at least once, and
// consumers deduplicate by job_id (a job that is replayed after it ended
// and ends again announces a second ending with a later finished_at).
// Metrics are written only for records before the checkpoint, so a retry
// does not count a job twice.
package jobevents
