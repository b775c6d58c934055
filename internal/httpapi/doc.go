// Package httpapi is promptq's HTTP API as one http.Handler: submit a
// prompt, poll its job, list and cancel jobs. docs/openapi.yaml is its
// contract; the two are kept in step.
//
// The same handler serves API Gateway (through internal/apigw in
// lambdas/api), the local dev runner, and httptest in tests, so there is one
// code path to trust.
//
// Nothing here waits for the model: POST /generate stores the job, queues
// it and answers 202, so no request ever meets API Gateway's 29 s limit.
//
// Errors are chosen in one place (writeError): a domain error's kind picks
// the status code and its message goes to the client; any other error is
// logged with its cause and the client sees only "An internal error
// occurred." and the request id.
package httpapi
