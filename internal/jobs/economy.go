package jobs

import (
	"strings"
	"time"

	"github.com/promptq/promptq/internal/catalogue"
)

// A Run is one run of the economy lane: the economy jobs of one model that
// go to Amazon Bedrock's batch inference as one model invocation job.
type Run struct {
	ID    string
	Model string
	// JobARN is Bedrock's model invocation job, once it is created.
	JobARN string
	State  RunState
	// Records is how many jobs the run holds; Done how many Bedrock has
	// processed, as it last reported; Cancelled how many were cancelled
	// since they were claimed for it.
	Records, Done, Cancelled int
	// InputKey is the run's input file in the economy bucket; its output
	// is under OutputPrefix.
	InputKey, OutputPrefix string
	CreatedAt, UpdatedAt   time.Time
}

// InRun reports whether j is in an economy run: claimed for it (running,
// with its run's id). Bedrock processes, and bills, its record whatever
// becomes of the job meanwhile.
func (j Job) InRun() bool {
	return j.Status == StatusRunning && j.Economy != nil && j.Economy.RunID != ""
}

// ChargePending reports whether j was cancelled inside its economy run
// and its run has not ended yet: it still holds its reservation, and what
// the run processes for it is charged when the run ends.
func (j Job) ChargePending() bool {
	return j.Status == StatusCancelled && j.Economy != nil && j.Economy.RunID != "" &&
		j.Budget.Counted() && !j.Budget.Settled
}

// RunJobNamePrefix begins the name of every model invocation job the
// economy lane starts; the rest is the run id. The stack's event rule
// matches on it, so only promptq's runs reach the completion function.
const RunJobNamePrefix = "promptq-"

// RunState is where a run is in its life.
type RunState string

// The run states. A run is started once its jobs are claimed for it and
// its input is written; it is submitted once Bedrock has its job; it is
// ended once every job of it has its result (or went on demand).
const (
	RunStarting  RunState = "starting"
	RunSubmitted RunState = "submitted"
	RunEnded     RunState = "ended"
	// RunAbandoned: the run will not start (its collector failed after
	// recording it); its jobs are being sent on demand, and no job can be
	// claimed for it any more. It ends once they all are.
	RunAbandoned RunState = "abandoned"
)

// RunMember is a job of a run: who owns it, and the attempt its claim for
// the run made (the fencing token of the writes that end it).
type RunMember struct {
	Owner   string
	JobID   string
	Attempt int
}

// Waiting is an economy job waiting to be gathered into a run: whose it
// is, its model, when it was submitted, and the size of its run record.
type Waiting struct {
	ID, Owner string
	Model     string
	CreatedAt time.Time
	Bytes     int64
}

// UsageKey is what a job's tokens count under in its owner's day of
// tokens (Usage.ByModel): its model, and whether they were billed at the
// batch price (an economy job's) or in the model's long-context band
// (catalogue.Model.LongContextAbove), so usage prices each at what it
// cost.
type UsageKey struct {
	Model       string
	Batch, Long bool
}

// The suffixes that mark a UsageKey's prices in its string form.
const (
	batchSuffix = "@batch"
	longSuffix  = "@long"
)

// String is k as the stores keep it: the model, then "@batch" and
// "@long" as they apply.
func (k UsageKey) String() string {
	s := k.Model
	if k.Batch {
		s += batchSuffix
	}
	if k.Long {
		s += longSuffix
	}
	return s
}

// Prices is what k's tokens cost: its model's list prices, at the batch
// price (catalogue.Prices.Batch) and at the long-context factor as k
// says; false for a model the catalogue does not know (one dropped from
// it since). GET /usage prices a day's tokens by it, and a job's charge
// (Job.ChargeCost) too, so the two agree.
func (k UsageKey) Prices() (catalogue.Prices, bool) {
	m, ok := catalogue.Lookup(k.Model)
	if !ok {
		return catalogue.Prices{}, false
	}
	p := m.Prices
	if k.Long {
		p = p.Times(m.LongContextFactor)
	}
	if k.Batch {
		p = p.Batch()
	}
	return p, true
}

// ParseUsageKey is UsageKey.String undone.
func ParseUsageKey(s string) UsageKey {
	var k UsageKey
	s, k.Long = strings.CutSuffix(s, longSuffix)
	k.Model, k.Batch = strings.CutSuffix(s, batchSuffix)
	return k
}

// Failure codes of the economy lane.
const (
	// FailureEconomyRun: the job's run failed, expired or was stopped
	// before the job had a result, and the lane is set to fail such jobs
	// rather than run them on demand.
	FailureEconomyRun = "economy_run_failed"
)
