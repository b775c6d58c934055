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
//	queued ──claim──▶ running ──▶ succeeded
//	  │                 │  ▲ └──▶ failed
//	  │                 │  └ release (deadline, transient error)
//	  └──── cancel ─────┴──▶ cancelled
//
// Every transition is a conditional write in the store, so two actors
// (two workers, or a worker and a user cancelling) can never both win.
package jobs
