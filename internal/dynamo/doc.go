// Package dynamo is promptq's job store on Amazon DynamoDB.
//
// # Table design
//
// One table with a string partition key pk and sort key sk (see
// docs/architecture.md). The owner is part of every key, so a request can
// only ever address its own caller's items:
//
//	job                 pk = USER#<sub>  sk = JOB#<job id>
//	idempotency record  pk = USER#<sub>  sk = IDEM#<key>
//
// The whole layout, every prefix, is internal/jobstable's.
//
// Job ids are UUIDv7, so a Query on pk with begins_with(sk, "JOB#") in
// descending order lists a user's jobs newest first. expires_at (epoch
// seconds) is the TTL attribute. Because TTL deletion lags by up to days, an
// idempotency record whose expires_at has passed counts as absent.
//
// # Transitions
//
// Every state change is one conditional write (a transaction where two items
// change together), so two actors can never both win. transitions.go holds
// each transition of jobs.Rules, in its order, from its rule to its write;
// change.go how a change is written. A lost condition comes
// back as an error matching [jobs.ErrConflict], or [jobs.ErrNotFound] when
// the job does not exist. The attempts counter a claim increments is a
// fencing token: the worker passes it back on every later write, and a
// worker whose job was claimed again after its lease lapsed can no longer
// write.
//
// The SDK retries a request whose answer was lost (a 5xx, a dropped
// connection), so a conditional write can fail its condition only because
// its own first attempt already changed the item. Each write therefore also
// stores a random write_token; a write that finds its own token treats
// itself as done. Transactions get the same safety from the SDK's
// ClientRequestToken.
//
// # Budgets
//
// A user's daily tokens and active jobs (and, optionally, the stack's daily
// tokens) are counter items that move with the jobs (budget.go): Reserve
// at submit, Charge at each attempt's end, and the settlement that every
// transition ending a job carries in its own transaction (settle.go), each
// conditioned on the job's budget as read so that it happens once.
//
// Throttling, 5xx answers, network failures, answers that broke off and
// calls that ran out of their deadline, once the SDK's retries are spent,
// become a [jobs.Error] of [jobs.KindUnavailable] (internal/awserr says
// which); everything else is wrapped with what the store was doing.
package dynamo
