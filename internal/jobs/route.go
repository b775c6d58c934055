package jobs

import (
	"encoding/json"
	"slices"
)

// Route is where generation requests come in. Each allows its lanes, the
// first its default: the one place a route's lanes are decided
// (DecodeRequest and DecodeBatch ask it).
type Route struct {
	lanes []Lane
	// refusal is the message refusing another lane: it names lanes, in
	// order (TestRoutesRefuseNamingTheirLanes holds it to them).
	refusal string
}

// The routes.
var (
	// RouteGenerate is POST /generate: "interactive" (the default) or
	// "bulk".
	RouteGenerate = Route{lanes: []Lane{LaneInteractive, LaneBulk},
		refusal: `lane must be "interactive" or "bulk".`}
	// RouteBatch is POST /generate/batch: "bulk" (the default) or
	// "economy" (where the deployment enables it). A batch never runs on
	// the interactive lane, whose capacity is kept for people waiting on
	// one answer.
	RouteBatch = Route{lanes: []Lane{LaneBulk, LaneEconomy},
		refusal: `lane must be "bulk" or "economy" for a batch; send jobs for the interactive lane one by one to POST /generate.`}
)

// Lanes are the lanes r allows, its default first.
func (r Route) Lanes() []Lane { return slices.Clone(r.lanes) }

// Lane is the lane a request on r asks for: lane, or r's default when
// nil. A lane r does not allow is a KindInvalid error naming "lane".
func (r Route) Lane(lane *string) (Lane, error) {
	if lane == nil {
		return r.lanes[0], nil
	}
	if l := Lane(*lane); slices.Contains(r.lanes, l) {
		return l, nil
	}
	return "", Invalid("lane", "%s", r.refusal)
}

// Batch is a decoded POST /generate/batch envelope: the batch's lane,
// whether it asks economy_fallback, and its entries, still raw, each
// decoded by [Batch.Entry] (so one bad entry is answered in place and the
// others still run).
type Batch struct {
	Requests        []json.RawMessage
	Lane            Lane
	EconomyFallback bool
}

// DecodeBatch parses and checks a batch's envelope: its lane (RouteBatch)
// and economy_fallback, which applies to the economy lane only (set to
// true or false, it is refused on another). Every error is a *Error of
// KindInvalid naming the field at fault.
func DecodeBatch(body []byte) (Batch, error) {
	var raw struct {
		Requests []json.RawMessage `json:"requests"`
		Lane     *string           `json:"lane"`
		// EconomyFallback runs a prompt Bedrock's batch inference fails
		// on the bulk lane instead of failing its job.
		EconomyFallback *bool `json:"economy_fallback"`
	}
	if err := decodeStrict(body, &raw); err != nil {
		return Batch{}, err
	}
	lane, err := RouteBatch.Lane(raw.Lane)
	if err != nil {
		return Batch{}, err
	}
	if raw.EconomyFallback != nil && lane != LaneEconomy {
		return Batch{}, Invalid("economy_fallback", `economy_fallback applies to a batch on the economy lane only.`)
	}
	return Batch{Requests: raw.Requests, Lane: lane, EconomyFallback: raw.EconomyFallback != nil && *raw.EconomyFallback}, nil
}
