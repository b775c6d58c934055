// Package esm feeds an SQS queue to a Lambda-style handler the way Lambda's
// event source mapping does, so the dev runner, the batch and DLQ tools and
// load tests run the worker's handler under the same contract it meets in
// AWS.
//
// # What a Poller does
//
// Each of Options.Concurrency pollers loops:
//
//  1. long-polls ReceiveMessage (20 s) for up to ten messages, asking for the
//     system attributes Lambda puts in its events (ApproximateReceiveCount,
//     SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp) and all
//     message attributes;
//  2. with a batching window, keeps receiving until the batch has
//     Options.BatchSize messages or the window, counted from the first
//     message, has passed;
//  3. builds the [events.SQSEvent] Lambda would send (eventSource aws:sqs,
//     eventSourceARN, awsRegion, md5OfBody, receiptHandle, attributes,
//     messageAttributes) and hands the handler its JSON decoded, as the
//     Lambda runtime does;
//  4. invokes the handler with a context whose deadline is the function
//     timeout, carrying a [lambdacontext.LambdaContext];
//  5. deletes every message not listed in the response's BatchItemFailures
//     (ReportBatchItemFailures semantics) and leaves the listed ones to come
//     back when their visibility timeout ends. As Lambda's pollers do, it
//     settles the batch apart from the invocation: the poller receives its
//     next batch meanwhile, and Run waits for every batch to be settled.
//
// As in Lambda, the whole batch is left on the queue when the handler returns
// an error, panics, runs past the function timeout, or lists a failure whose
// itemIdentifier is empty or not a message of the batch.
//
// # Where it differs from Lambda
//
// Lambda scales its pollers with the queue's depth; a Poller runs a fixed
// number, which is what the mapping's MaximumConcurrency bounds anyway. A
// handler that overruns its timeout cannot be killed here: its context
// ends and its result is ignored. When Run's context ends, in-flight
// invocations are cancelled too (Lambda never stops mid-batch), and with
// Options.ReleaseOnStop the messages they did not finish are sent again
// and the received copies deleted, so a restarted dev runner picks them up
// at once, without waiting out the visibility timeout, and kumo, which
// leaves messages in flight out of its snapshots, keeps them.
package esm
