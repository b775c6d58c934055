package jobs

// Lane is the queue a job waits in and the share of the model's capacity it
// runs on. Each lane has its own queue and its own concurrency, so a
// backlog in one never delays the other.
type Lane string

// The lanes.
const (
	// LaneInteractive is for a person waiting on the answer: POST
	// /generate, which the web app uses. Its capacity is reserved: the bulk
	// lane can never take it.
	LaneInteractive Lane = "interactive"
	// LaneBulk is for scripts: POST /generate/batch, or "lane": "bulk" on
	// POST /generate. It runs as fast as the model's quota allows after the
	// interactive lane's reserve, shared fairly between its users.
	LaneBulk Lane = "bulk"
	// LaneEconomy is for batches that can wait hours: "lane": "economy"
	// on POST /generate/batch. Its jobs run in runs of Amazon Bedrock's
	// batch inference, at its lower token price (internal/economy), not
	// on the workers; a job Bedrock cannot take goes to the bulk lane.
	LaneEconomy Lane = "economy"
)

// Lanes lists the on-demand lanes: each has its queue, its workers and
// its share of the model's concurrency. The economy lane is not one of
// them.
var Lanes = []Lane{LaneInteractive, LaneBulk}

// Valid reports whether l is one of the lanes, economy included.
func (l Lane) Valid() bool {
	return l == LaneInteractive || l == LaneBulk || l == LaneEconomy
}

// OnDemand reports whether l is one of Lanes, run by the workers.
func (l Lane) OnDemand() bool {
	return l == LaneInteractive || l == LaneBulk
}

// OrDefault is l, or LaneInteractive for the empty lane of a job or message
// made before lanes existed (every job then ran on what is now the
// interactive lane's queue).
func (l Lane) OrDefault() Lane {
	if l == "" {
		return LaneInteractive
	}
	return l
}
