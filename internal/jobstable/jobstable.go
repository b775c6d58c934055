// Package jobstable is the layout of the jobs table that more than one
// program must agree on: internal/dynamo, which reads and writes it, and
// the stack (stack/promptqstack), which creates it in AWS. It imports
// nothing, so the stack's module can import it without the AWS SDK.
package jobstable

// The key layout: every item of a user has their partition, UserPrefix and
// their id (so one user's request can never address another's item); a
// job's item sorts under JobPrefix and its id in it. The lanes' fair-share
// items have a partition per lane, LanePrefix and the lane. The stack's IAM
// conditions name the partitions by these prefixes.
//
// A model's seats (internal/dynamo.Capacity: one a generation it may run
// at once, whatever the lane) have a partition per model, CapacityPrefix
// and the model id, and one item a seat, SeatKey of its index, so that
// reading them all is one Query of the partition.
//
// The economy lane's items (internal/dynamo's economy.go) have partitions
// of their own: EconomyKey (the models with waiting jobs, and the open
// runs), EconomyPrefix and a model (its waiting jobs), RunPrefix and a run
// id (the run and its jobs). Only the economy lane's functions may use
// them.
const (
	UserPrefix = "USER#"
	JobPrefix  = "JOB#"
	LanePrefix = "LANE#"
	// CapacityPrefix and SeatPrefix: a model's seats.
	CapacityPrefix = "CAP#"
	SeatPrefix     = "SEAT#"
	EconomyKey     = "ECON"
	EconomyPrefix  = "ECON#"
	RunPrefix      = "RUN#"
)

// SearchPrefix starts the sort key of a job's search item, in its owner's
// partition (SearchPrefix and the job id): the job's search terms, which
// GET /jobs?q= reads instead of the jobs' texts. internal/dynamo writes
// and queries them; scripts/measure/search weighs them.
const SearchPrefix = "SRCH#"

// UserKey is the partition key of owner's items.
func UserKey(owner string) string { return UserPrefix + owner }

// JobKey is the sort key of job id's item.
func JobKey(id string) string { return JobPrefix + id }

// CapacityKey is the partition key of model's seats.
func CapacityKey(model string) string { return CapacityPrefix + model }

// SeatKey is the sort key of seat i (0 to 9999), its index in four digits,
// so that the seats sort in order.
func SeatKey(i int) string {
	b := []byte(SeatPrefix + "0000")
	for j := len(b) - 1; j >= len(SeatPrefix); j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
	return string(b)
}

// Keys and attributes the table's definition names.
const (
	// PartitionKey and SortKey are the table's keys (strings).
	PartitionKey = "pk"
	SortKey      = "sk"
	// TTLAttribute is the expiry attribute (epoch seconds).
	TTLAttribute = "expires_at"

	// ActiveIndex is the sparse global secondary index of queued and
	// running jobs: hash ActiveOwnerAttribute (set to the owner only while
	// a job is active), range SortKey, projecting ActiveProjection. The API
	// counts a user's active jobs on it and the rescuer scans it for stale
	// jobs.
	ActiveIndex          = "active"
	ActiveOwnerAttribute = "active_owner"
)

// ActiveProjection is what ActiveIndex carries besides its keys: the
// attributes the rescuer judges a job by, and the lane whose queue it is
// sent to, without reading the job item (whose prompt and generated text
// can be hundreds of kilobytes). A progress write changes lease_until and
// updated_at, so it also writes the index entry: a few dozen bytes, one
// write unit.
//
// CloudFormation can't change an existing index's projection: a stack
// deployed with another projection needs the index removed in one deploy
// and added back in the next (docs/architecture.md).
func ActiveProjection() []string {
	return []string{"status", "updated_at", "lease_until", "attempts", "lane"}
}
