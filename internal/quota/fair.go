package quota

import "strconv"

// FairShare is how many jobs of a lane with concurrency capacity one of
// users users may run at once: capacity/users rounded up, at least 1. With
// one user it is the whole lane; rounding up leaves no slot idle while a
// user waits (some users may then hold one slot more than others).
func FairShare(capacity, users int) int {
	users = max(users, 1)
	return max(1, (capacity+users-1)/users)
}

// Slot is what a lane's fair shares decide for one message of a job
// (internal/dynamo.Shares.Acquire).
type Slot int

const (
	// SlotRefused: the job's owner runs their share of the lane already;
	// the job waits.
	SlotRefused Slot = iota
	// SlotNone: the job may run without a slot: its owner is the lane's
	// only user, whose share is the whole lane (its own concurrency holds
	// them to it).
	SlotNone
	// SlotTaken: the job may run in a slot taken for it just now, which
	// whoever runs it renews and gives back.
	SlotTaken
	// SlotHeld: the job holds a slot already, taken for another message
	// of it: a duplicate of a job that runs elsewhere, or a message whose
	// worker died. The job may run; the slot stays its holder's unless
	// this message's worker then claims the job (the holder is gone), and
	// then that worker takes it over, renews and gives it back. A copy
	// that cannot claim the job never gives it back.
	SlotHeld
)

// Admitted reports whether the job may run.
func (s Slot) Admitted() bool { return s != SlotRefused }

func (s Slot) String() string {
	switch s {
	case SlotRefused:
		return "refused"
	case SlotNone:
		return "admitted without a slot"
	case SlotTaken:
		return "admitted in a slot taken for it"
	case SlotHeld:
		return "admitted in the slot it held"
	}
	return "slot(" + strconv.Itoa(int(s)) + ")"
}
