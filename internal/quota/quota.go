// Package quota turns the model's quota into the product's capacity: how
// many generations each lane may run at once, how fast tokens may be spent,
// and each user's fair share of a lane. It is arithmetic only, with no I/O,
// so the worker, the dev runner and the stack (which imports it to size the
// event source mappings) apply one rule.
//
// # The quota
//
// An operator knows two numbers about the account's Bedrock quota for the
// models they allow (the Service Quotas console, service code bedrock):
// how many generations may run at once, which [Quota.Concurrency] holds,
// and, if known, the tokens-per-minute quota, which [Quota.TokensPerMinute]
// holds (0: unknown, no pacing).
//
// # Lanes
//
// [Quota.Split] divides the concurrency between the lanes: the interactive
// lane gets InteractiveShare of it (at least 2, the least an SQS event
// source mapping allows), and the bulk lane the rest. Each lane's event
// source mapping runs at most that many generations, one message per
// invocation, so the bulk lane can never take the interactive lane's.
//
// # Pace
//
// [Bucket] is a token bucket per model, shared by every worker through the
// jobs table (internal/dynamo), that keeps the tokens a model is asked for
// under its tokens-per-minute quota. A job takes its worst case (input
// estimate plus max_tokens, which is what Bedrock reserves when a call
// starts) before it calls the model and gives back what it did not use
// when the call ends.
//
// # Fair share
//
// [FairShare] is how many jobs of a lane one user may run at once: the
// lane's concurrency divided by the users with work in the lane, rounded
// up, so no capacity sits idle while someone waits and one user's backlog
// cannot keep another user's jobs waiting behind it.
package quota
