// Package sqsqueue is promptq's jobs queue on Amazon SQS.
//
// A message is the JSON of a [jobs.Message] ({"job_id": ..., "owner": ...}):
// just enough for the worker to find the job in the store. It carries no
// prompt, so nothing a user wrote sits in the queue or the dead-letter
// queue, and a message never goes stale.
//
// [CreateQueues] makes the queue and its dead-letter queue for tests and the
// dev runner; in AWS the stack owns them.
package sqsqueue
