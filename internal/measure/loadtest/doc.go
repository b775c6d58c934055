// Package loadtest drives the dev stack (internal/dev/devstack, the code of
// `make dev`) as many users would, and checks afterwards what became of
// every job. It is the harness behind scripts/measure/load, scripts/measure/faults and
// scripts/measure/cost; nothing that runs in Lambda imports it.
//
// A run has four parts:
//
//   - [StartStack] starts an isolated dev stack in this process: its own
//     temporary dir and free ports on 127.0.0.1, the local model, and
//     [devstack.Hooks] to count AWS requests and model calls.
//   - [SignUpUsers] creates users in its cognito-local pool (SignUp,
//     AdminConfirmSignUp) and logs them in.
//   - [Run] submits jobs with idempotency keys (retrying a submission the
//     API did not answer with the same key, and replaying some on purpose),
//     then polls until every accepted job is terminal, timing every API
//     call ([Latencies]).
//   - [Check] reads the jobs table directly and compares it with what the
//     clients were told and with the model's calls ([ModelCalls]): every
//     accepted job present and terminal, none twice, and as many model
//     calls as attempts.
//
// Prompts carry their idempotency key in brackets at the start, so a model
// call can be traced to its job without the worker's help.
package loadtest
