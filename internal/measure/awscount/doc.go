// Package awscount counts the requests aws-sdk-go-v2 clients send, per
// service and operation, with a middleware added to a client's APIOptions:
//
//	c := awscount.New()
//	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
//		o.APIOptions = append(o.APIOptions, c.Middleware)
//	})
//	... // run something
//	for _, s := range c.Snapshot() { fmt.Println(s.Service, s.Operation, s.Requests) }
//
// A call is one client method call; a request is one HTTP request of it, so
// retries count as requests, as AWS bills them. Observers see every
// finished call with its input and output, which is how [Capacity]
// estimates the DynamoDB read and write units a run would consume.
//
// scripts/measure/cost and scripts/measure/lanes use it, through the dev
// stack's hooks (devstack.Hooks), to turn an end-to-end run on the dev
// stack into requests and capacity units per job; internal/dynamo's tests
// use it to check what a store operation writes. Like all of
// internal/measure it is never linked into a Lambda (the lambdas package's
// TestNoLambdaLinksTheHarnessOrTesting fails if it is).
package awscount
