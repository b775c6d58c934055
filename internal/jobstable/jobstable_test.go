package jobstable

import (
	"slices"
	"testing"
)

// A model's seats sort in the order of their index, so a Query of the
// model's partition reads them in order.
func TestSeatKeysSortByIndex(t *testing.T) {
	t.Parallel()
	var keys []string
	for _, i := range []int{0, 9, 10, 99, 100, 1999} {
		keys = append(keys, SeatKey(i))
	}
	if !slices.IsSorted(keys) || keys[0] != "SEAT#0000" || keys[5] != "SEAT#1999" {
		t.Errorf("seat keys %v: want SEAT#0000 to SEAT#1999, sorted", keys)
	}
}
