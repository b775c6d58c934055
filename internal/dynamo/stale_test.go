package dynamo

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestStaleEntryRefusesAnIndexThatDoesNotProjectWhatItJudgesBy guards the
// stack's projection of activeIndex: kumo returns whole items from any
// index, so only this check would notice a projection missing an attribute
// in AWS, where every job would otherwise look stale.
func TestStaleEntryRefusesAnIndexThatDoesNotProjectWhatItJudgesBy(t *testing.T) {
	t.Parallel()
	entry := func(drop ...string) map[string]types.AttributeValue {
		av := map[string]types.AttributeValue{
			"pk": str("USER#u1"), "sk": str("JOB#j1"), "active_owner": str("u1"),
			"status": str("running"), "updated_at": str("2026-11-25T12:00:00Z"),
			"lease_until": num(1795000000000), "attempts": num(2),
		}
		for _, d := range drop {
			delete(av, d)
		}
		return av
	}
	j, err := staleEntry(entry())
	if err != nil || j.Owner != "u1" || j.ID != "j1" || j.Attempts != 2 || j.LeaseUntil.UnixMilli() != 1795000000000 {
		t.Fatalf("staleEntry(full) = %+v, %v", j, err)
	}
	for _, drop := range []string{"status", "updated_at", "lease_until"} {
		if _, err := staleEntry(entry(drop)); err == nil || !strings.Contains(err.Error(), "must project") {
			t.Errorf("without %s: error %v, want one saying what the index must project", drop, err)
		}
	}
	if _, err := staleEntry(map[string]types.AttributeValue{"pk": str("USER#u1"), "sk": str("LIMIT#x")}); err == nil {
		t.Error("an entry that is not a job was accepted")
	}
}
