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
//	           └── cancel (queued or running) ──▶ cancelled ──settle run──▶ cancelled
//
// Every transition is a conditional write in the store, so two actors
// (two workers, or a worker and a user cancelling) can never both win.
// Rules (transition.go) is the one table of them: which statuses each
// allows, the status it leads to, and who calls it. Both stores read it
// (internal/dynamo turns a rule into its condition expression,
// internal/dev/inmem checks it under its lock), and
// internal/dev/storetest holds both to it. Create, not in the table,
// writes a new queued job with its idempotency record.
//
// A Held rule ("running, same attempt") fences a worker whose job was
// taken over: Claim counts the attempts, and a write of an older attempt is
// a conflict.
//
// A transition that ends a job settles its budget in the same write
// (Rule.Settles), except a cancel inside an economy run: Bedrock still
// processes and bills the job's record, so the job keeps its reservation
// until its run ends and SettleRun charges what the run processed.
package jobs
