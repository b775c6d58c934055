// Package jobs is promptq's domain: a generation job, its lifecycle, the
// rules a request must follow, and the kinds of error every other package
// speaks in.
//
// It imports no AWS package. Adapters (DynamoDB, SQS, Cognito, Bedrock)
// translate their own errors into the kinds declared here, and the HTTP API
// turns a kind into a status code in exactly one place.
//
// # Lifecycle
//
//	                 ┌───────── release ─────────┐
//	                 ▼                           │
//	create ──▶ queued ─────── claim ────────▶ running ──finish──▶ succeeded
//	           │  ▲                              │
//	           │  └── requeue (replay, rescue) ──┼─── failed ◀── mark failed (purge)
//	           │                                 └──fail──▶ failed
//	           ├── abandon (enqueue_failed) ──▶ failed
//	           └── cancel (queued or running) ──▶ cancelled
//
// Every transition is a conditional write in the store, so two actors
// (two workers, or a worker and a user cancelling) can never both win. The
// stores (internal/dynamo, internal/dev/inmem) each write them;
// internal/dev/storetest holds both to this table:
//
//	transition     from                                  to          who
//	Create         (nothing)                             queued      API (submit)
//	AbandonEnqueue queued                                failed      API, when its send failed (enqueue_failed)
//	SwapSentAt     queued (unchanged)                    queued      API, when a retried submission sends its job's message again
//	Claim          queued, or running with a lapsed lease running    worker
//	SaveProgress   running, same attempt                 running     worker (text, heartbeat)
//	Release        running, same attempt                 queued      worker (deadline, transient error)
//	Finish         running, same attempt                 succeeded   worker
//	Fail           running, same attempt                 failed      worker (model error, last receive), rescuer (retries exhausted)
//	Cancel         queued, running                       cancelled   API (POST /jobs/{id}/cancel)
//	Requeue        failed, queued, or running with a      queued      DLQ tool (replay), rescuer
//	               lapsed lease
//	MarkFailed     queued, failed, or running with a      failed      DLQ tool (purge)
//	               lapsed lease
//
// "Same attempt" fences a worker whose job was taken over: Claim counts the
// attempts, and a write of an older attempt is a conflict.
package jobs
