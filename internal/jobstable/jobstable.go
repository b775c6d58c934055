// Package jobstable is the layout of the jobs table: its key attributes'
// names, every key prefix, the TTL attribute and the active index. Every
// program that must agree on it reads it here: internal/dynamo, which
// reads and writes the table, the stack (stack/promptqstack), which
// creates it in AWS, and the measurements, which weigh its items. It
// imports nothing, so the stack's module can import it without the AWS
// SDK.
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

// The rest of the layout, which only internal/dynamo writes (and the
// measurements read), kept here with the rest so that every prefix is
// spelled once:
//
//	pk                   sk                                item
//	USER#<sub>           IDEM#<key>                        an idempotency key's job
//	USER#<sub>           IN#<job>                          a job's prompt and system prompt
//	USER#<sub>           OUT#<job>#<n>                     a chunk of a job's text
//	USER#<sub>           LIMIT#tokens#<day>, LIMIT#active  the user's budget counters
//	USER#<sub>           LIMIT#minute#<t>, LIMIT#requests#<t>  the user's rate counters
//	STACK                LIMIT#tokens#<day>                the stack's daily tokens
//	LANE#<lane>          ACTIVE#<t>[#<sub>]                who had work in the lane, when
//	LANE#<lane>          USER#<sub>                        a user's slots in the lane
//	PACE#<model>         BUCKET                            a model's token bucket
//	ECON                 MODEL#<model>, RUN#<run>          models with waiting jobs, open runs
//	ECON                 COLLECTOR                         the collector's lease
//	ECON#<model>         WAIT#<created>#<job>              an economy job waiting for a run
//	RUN#<run>            RUN, JOB#<job>                    a run, and its jobs
const (
	IdemPrefix     = "IDEM#"
	InPrefix       = "IN#"
	OutPrefix      = "OUT#"
	LimitPrefix    = "LIMIT#"
	TokensPrefix   = LimitPrefix + "tokens#"
	ActiveJobsKey  = LimitPrefix + "active"
	MinutePrefix   = LimitPrefix + "minute#"
	RequestsPrefix = LimitPrefix + "requests#"
	StackKey       = "STACK"
	ActivePrefix   = "ACTIVE#"
	PacePrefix     = "PACE#"
	BucketKey      = "BUCKET"
	ModelPrefix    = "MODEL#"
	WaitPrefix     = "WAIT#"
	RunKey         = "RUN"
	CollectorKey   = "COLLECTOR"
)

// Key is an item's key: PartitionKey and SortKey. Embedded in an item's
// struct, the AWS SDK's attributevalue package writes and reads it as
// those two attributes, so no other package spells them in a tag.
type Key struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
}

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
