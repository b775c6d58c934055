// Package storetest is the one test suite every job store must pass, and
// the one every keeper of the models' seats must pass ([RunCapacity]).
//
// A store's own tests call [Run] with a function that makes a fresh, empty
// store: internal/dynamo runs it over the wire against a DynamoDB stand-in,
// internal/dev/inmem in memory; likewise [RunCapacity] with their
// Capacity. Because both pass the same suite, tests of the
// API and worker that use the in-memory store say something true about
// DynamoDB too.
//
// The suite drives time through the clock it hands the store, never by
// sleeping, so no test depends on how fast the machine is.
package storetest
