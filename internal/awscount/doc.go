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
// The measurement scripts (scripts/load, scripts/cost) use it to turn an
// end-to-end run on the dev stack into requests per job. Nothing that runs
// in Lambda imports it.
package awscount
