// Package economy runs the economy lane: batches that can wait hours go
// through Amazon Bedrock's batch inference, at its lower token price,
// behind the same API and the same jobs table as the on-demand lanes.
//
// The API stores an economy job queued and sends its message to the
// economy lane's queue, as for any lane (internal/submit), so an accepted
// job is never lost. No worker reads that queue. The collector
// ([Collector.Collect], on a schedule):
//
//  1. gathers: receives the queue's messages and records each job as
//     waiting for a run, per model, with its record's size (then deletes
//     the message); a job no longer queued (cancelled) is dropped;
//  2. plans the waiting jobs into runs within Bedrock's per-job limits
//     (bedrockbatch.MakePlan): a model's jobs below the minimum wait, for
//     at most MaxWait, then run on demand on the bulk lane; so does a job
//     too large for a run;
//  3. starts each run: claims its jobs for it (the worker's claim, with a
//     lease that outlasts the run), records the run and its jobs, writes
//     its JSONL input to the economy bucket and creates the model
//     invocation job, named promptq-<run id> with the run id as its
//     client request token, so a retry never starts it twice.
//
// The completion function ([Completer]) ends a run when Bedrock says it
// ended: on its "Batch Inference Job State Change" event, and on a
// schedule for every run still open (events are best effort). It reads
// the output, in any order, and the manifest (whose counts it checks
// against the results, warning an operator of a mismatch), and for each
// record ends its job with the
// same conditional writes the worker uses, fenced by the attempt of the
// job's claim for the run: a record matches a job only by its record id
// among the run's jobs, and the job only under its owner. A record
// Bedrock failed fails its job with Bedrock's error, or, if the user
// asked (economy_fallback), runs it on the bulk lane. Jobs of a run that
// failed, expired or was stopped before they had a result run on the
// bulk lane or fail (economy_run_failed), as configured.
//
// A cancelled job is simply not ended by its run (the conditional write
// fails): the user is not charged for its record. The API counts it on
// its run, and once every job of a run is cancelled the completion's check
// stops the run's model invocation job.
package economy
