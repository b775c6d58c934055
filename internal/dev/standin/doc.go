// Package standin starts local stand-ins for AWS services for tests and the
// dev runner, and builds SDK clients that talk to them.
//
// The stand-ins are emulators, not mocks: the real SDK clients marshal,
// sign and send requests over HTTP, so the adapters' tests exercise the wire
// format, error types and retries they will meet in AWS.
//
// # DynamoDB and SQS
//
// [Kumo] (and [StartKumo] outside tests) runs the kumo emulator in-process on
// 127.0.0.1. [AWSConfig], [DynamoDB] and [SQS] build clients for any local
// endpoint URL, so the dev runner can point them at a stand-in it started
// itself.
//
// kumo registers about eighty services and takes a while to build: only
// tests, the dev runner and the measurements import this package. Like all
// of internal/dev it is never linked into a Lambda (the lambdas package's
// TestNoLambdaLinksTheHarnessOrTesting fails if it is).
package standin
