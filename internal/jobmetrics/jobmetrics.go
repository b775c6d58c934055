// Package jobmetrics names the CloudWatch metrics of finished jobs, which
// more than one program must agree on: internal/jobevents, which writes
// them (embedded metric format), and the stack (stack/promptqstack), whose
// dashboard reads them. Like internal/jobstable it imports nothing, so the
// stack's module can import it without the AWS SDK.
package jobmetrics

// Namespace is the CloudWatch namespace of the job metrics and of the
// stack's log metric filters.
const Namespace = "promptq"

// Metric names, one value per finished job.
const (
	QueueWait    = "QueueWait"    // ms from submission to the last attempt's start
	JobDuration  = "JobDuration"  // ms of the last attempt's run
	InputTokens  = "InputTokens"  // the job's input tokens
	OutputTokens = "OutputTokens" // the job's output tokens
	JobsFinished = "JobsFinished" // 1, by lane and status
	JobsFailed   = "JobsFailed"   // 1 per failed job, by lane and failure code
)

// Dimension names. All are few-valued: lanes, configured models, statuses,
// failure codes. Never the owner or a job id.
const (
	Lane        = "Lane"
	Model       = "Model"
	Status      = "Status"
	FailureCode = "FailureCode"
)
