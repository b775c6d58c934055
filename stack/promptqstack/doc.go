// Package promptqstack is promptq's AWS infrastructure as one CDK stack:
// Cognito, the REST API and its Lambda, the jobs queue with its dead-letter
// queue and the worker Lambda, the rescuer Lambda on a 5-minute schedule,
// the jobs table, the static site behind CloudFront, and alarms.
//
// # Shape
//
// [Config] carries every deploy-time choice, with defaults in [DefaultConfig]
// and overrides read from CDK context by [ConfigFromContext] (the keys are
// listed in docs/configuration.md). [New] builds the stack from a Config; it
// reads no environment and touches no AWS account, so tests synthesize it
// offline with temporary asset folders.
//
// # Least privilege
//
// Each function gets its own role with inline statements only: the exact
// DynamoDB item actions it uses on the one table (and the API's Query and
// the rescuer's Scan on the one index), the exact queue actions on the one
// queue, for the worker Bedrock invoke actions on the configured models'
// inference profile and foundation-model ARNs, and log writes to its own
// log group. No AWS managed policy is attached to a function role.
//
// # cdk-nag
//
// The stack is written to pass the AwsSolutions pack. What is left is
// suppressed next to the construct it concerns, each with its reason; the
// tests fail on any unsuppressed error or warning.
package promptqstack
