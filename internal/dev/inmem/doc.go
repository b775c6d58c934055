// Package inmem keeps promptq's jobs, the models' seats and the queue in
// memory, for unit tests and benchmarks of the API and the worker.
//
// [Store] has the method set and the semantics of the DynamoDB store
// (internal/dynamo): both pass the same suite (internal/dev/storetest), so a
// test that passes with it says something true about DynamoDB. [Capacity],
// the models' seats, likewise has dynamo.Capacity's (both pass
// storetest.RunCapacity). [Queue] records what was sent and can be told to
// fail.
//
// Nothing here persists or is meant for production.
package inmem
