// Package bedrockbatch is promptq's adapter for Amazon Bedrock's batch
// inference (model invocation jobs), which the economy lane runs on: the
// same models as on demand, at a lower token price, for work that can wait
// hours.
//
// A run is one model invocation job. Its input is one JSONL file in S3, a
// line per promptq job: {"recordId": <job id>, "modelInput": <Converse
// request body>} (ModelInvocationType Converse). Bedrock writes, under the
// run's output prefix and a folder named for its own job id, an output
// line per record, in any order, with either "modelOutput" (a Converse
// response body) or "error", and a manifest.json.out with the run's
// counts. This package writes the input, reads the output and the
// manifest, and plans runs within Bedrock's per-job limits.
//
// A record asks what an on-demand call of the job asks (NewRecord: the rule
// of jobs.Request.Conversation and Params, which internal/bedrock follows
// too): no temperature for a model that takes none, the effort as
// outputConfig.effort, thinking turned off where promptq does. That batch
// inference honours outputConfig in a record is unconfirmed (its records
// "must match the request body of the Converse API", of which it is part).
// It imports no bedrockruntime package: the records are plain JSON.
//
// References: "Format and upload your batch inference data" and "View the
// results of a batch inference job" in the Bedrock user guide.
package bedrockbatch
