// Package corsrules is what the API tells browsers about cross-origin
// requests, which both the API's handler (internal/httpapi, on every
// response and preflight) and API Gateway's own preflight (the stack)
// must say alike. It imports nothing, so the stack's module can use it.
package corsrules

// RequestHeaders are the request headers a page may send besides the
// simple ones.
var RequestHeaders = []string{"Authorization", "Content-Type", "Idempotency-Key", "If-None-Match"}

// ExposedHeaders are the response headers a page may read.
var ExposedHeaders = []string{"Location", "Retry-After", "X-Request-Id", "Idempotent-Replayed", "ETag"}

// Methods are the methods the API serves.
var Methods = []string{"GET", "POST", "OPTIONS"}
