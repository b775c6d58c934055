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
// source mapping allows), and the bulk lane the rest.
//
// # Seats
//
// A model runs at most Concurrency generations at once, whatever their
// lane: that many [Seat]s, which every worker takes before it calls the
// model and gives back when the call ends (internal/dynamo.Capacity keeps
// them in the jobs table). [Quota.Choose] is the rule: a job takes any
// free seat, so no capacity sits idle while a job waits. The first
// Split().Bulk seats are the bulk lane's own and the rest the interactive
// lane's reserve; a bulk job on the reserve is lent it, and gives it back
// at its next flush when an interactive job finds every seat busy and asks
// for it ([Quota.Lends]). A job that gave a seat back goes on later on a
// seat of its lane's own, and is never asked again. So the bulk lane's
// event source mapping may run the whole concurrency
// ([Quota.MappingConcurrency]) and the interactive lane's its share: the
// seats, not the mappings, bound the total.
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
// cannot keep another user's jobs waiting behind it. The bulk lane's
// concurrency is every seat the interactive lane is not using
// ([Quota.ShareCapacity]).
package quota
