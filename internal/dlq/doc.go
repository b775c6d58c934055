// Package dlq is the operators' tool for promptq's dead-letter queue: the
// messages of jobs the worker gave up on after the queue's maxReceiveCount
// receives. scripts/dlq is a thin main around [Main].
//
// # Commands
//
//   - list: the queue's counts, and each message's job id, owner, age,
//     the job's attempts, status and recorded failure (--json adds SQS's
//     receive count, which counts this tool's looks too).
//   - show JOB_ID: the message and the job side by side (the prompt cut
//     short; the generated text only counted).
//   - replay: the job back to queued, the message back to the jobs queue.
//   - purge: the job failed for good (jobs.FailurePurged), the message
//     deleted; asks first. A job running under a live lease is left to
//     finish and only its dead letter deleted ([Tool.Purge]).
//
// The target is the dev stack's dev.json (internal/dev/devstack/devinfo), or a
// deployed stack whose CloudFormation outputs name the queues and table.
//
// # Looking is receiving
//
// SQS cannot show a message without receiving it. list and show receive
// with a short visibility timeout ([Config.PeekVisibility], 5 s) and make
// everything visible again as soon as they have read the queue, so a
// message is hidden from others for seconds at most; each look also adds
// one to the message's ApproximateReceiveCount, which in a dead-letter
// queue has no effect but makes that count a poor signal: list shows the
// job's attempts instead. replay and purge hold each message for
// [Config.HoldVisibility] (60 s) while they act on it, which is what keeps
// two operators from acting on the same message.
//
// # Why replay cannot lose a message
//
// For each message, while it is hidden: requeue the job (failed → queued,
// so its owner sees it move), send the message to the jobs queue, then
// delete the dead letter. The requeue comes first because the worker drops
// a message whose job has ended. The send comes before the delete, so an
// interruption leaves the message in both queues at worst; the worker's
// claim runs the job once, and the next replay finds the job ended and
// deletes the stale copy. A job that has succeeded or been cancelled is
// never requeued.
//
// replay --bulk uses SQS's own move task (StartMessageMoveTask) for a large
// queue: it requeues every listed job first, then moves all messages. It
// needs a complete listing and an endpoint with move tasks; otherwise it
// replays message by message. See [Tool.Replay].
package dlq
