// Package batch is the batch tool (scripts/batch): it submits a JSONL file
// of prompts to promptq's API, optionally waits for the jobs, and writes
// their results in input order. [Main] is the command; [Run] is one run.
//
// # Inputs
//
// Each input format reads its file into POST /generate requests and
// writes the results in its own shape: promptq's requests, one JSON
// object a line ([ReadInput]); a table, a CSV file with a header row or a
// JSONL file of objects, whose rows text/template prompts (--template,
// --system-file) make into requests, written back as the same rows with
// status, generated_text and error added; OpenAI's Batch API input and
// Anthropic's Message Batches input, unchanged (foreign.go says how they
// are told apart and mapped), answered in their own output shapes. These
// three are strict: a line that cannot be sent (a field a template names
// is missing, a tool a foreign line asks for) is listed with every other
// such line, and nothing is sent. Every format's requests are
// made by one function (newLine), so they are checked, hashed and keyed
// alike, and the rest of a run does not know the format.
//
// # Safety
//
// Every line is sent with an idempotency key derived from the input (its
// id, or its line number and a hash of its fields: see --help), so a
// retried call or a re-run gets the original job back instead of a new
// one. A state file next to the output (OUTPUT.state, JSON lines,
// fsync'd after every call) records which line became which job, and
// which jobs have been read finished; a run that was interrupted, crashed
// or gave up resumes from it, sending only the lines without a job and
// fetching only the jobs not yet read. The keys cover the gap between an
// accepted call and its state record; the state covers runs more than the
// API's 24 hours of idempotency apart.
//
// # Calls
//
// Lines go in POST /generate/batch calls of up to 100 (and under the 5 MiB
// body limit), Concurrency at once. 429 and 5xx answers and network errors
// are retried after the answer's Retry-After, or an exponential backoff
// with jitter; a 429 holds back every call of the run, not only the one
// that got it. A Retry-After over five minutes (a daily limit) ends the
// run with the API's message. Each call has MaxAttempts and the run a
// RetryBudget, so a run against a failing API stops by itself. A 401
// refreshes the Cognito token once. Batches the API finds too big (413,
// or more entries than it takes) are halved until they fit.
//
// With --wait, unfinished jobs are polled: a few with GET /jobs/{id}
// (honouring its Retry-After), many by paging GET /jobs (100 a call,
// newest first, until past the oldest one wanted), fetching whole only the
// finished jobs whose text the listing cut.
//
// A run that was not interrupted ends with one GET /usage, whose answer
// (the caller's tokens today and what is left of the budget) closes the
// summary.
//
// # Stopping
//
// On Ctrl-C, calls in flight finish and their answers are saved; nothing
// new starts; Main exits 130 and says how to resume. The results file is
// written only by a run that reached its end.
package batch
