package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestLostAnswersPicksOneInEveryNJobCreatesWhileArmed(t *testing.T) {
	t.Parallel()
	l := &lostAnswers{}
	if l.take("j0") {
		t.Fatal("took an answer before being armed")
	}
	l.arm(2, 3)
	var took []string
	for _, id := range []string{"j1", "j2", "j3", "j4", "j5", "j6", "j7", "j8", "j9"} {
		if l.take(id) {
			took = append(took, id)
		}
	}
	if len(took) != 2 || took[0] != "j3" || took[1] != "j6" {
		t.Errorf("took %v, want j3 and j6 (one in three, two in all)", took)
	}
	if got := l.lostJobs(); len(got) != 2 {
		t.Errorf("lostJobs %v", got)
	}
}

func TestCreatedJobIsTheJobATransactionPuts(t *testing.T) {
	t.Parallel()
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	create := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{Item: map[string]types.AttributeValue{"pk": s("USER#u"), "sk": s("JOB#abc")}}},
		{Put: &types.Put{Item: map[string]types.AttributeValue{"pk": s("USER#u"), "sk": s("IDEM#k")}}},
	}}
	counters := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Update: &types.Update{}}}}
	if got := createdJob(create); got != "abc" {
		t.Errorf("createdJob = %q, want abc", got)
	}
	if got := createdJob(counters); got != "" {
		t.Errorf("createdJob of the limiter's transaction = %q", got)
	}
	if got := createdJob(&dynamodb.PutItemInput{}); got != "" {
		t.Errorf("createdJob of a PutItem = %q", got)
	}
}

func TestCountCallsCountsStartsAndOpenCalls(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "calls.jsonl")
	lines := `{"event":"call","key":"a"}
{"event":"end","key":"a","result":"ok"}
{"event":"call","key":"b"}
{"event":"call","key":"c"}
{"event":"end","key":"c","result":"ok"}
`
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	if calls, open := countCalls(path); calls != 3 || open != 1 {
		t.Errorf("countCalls = %d, %d; want 3, 1", calls, open)
	}
	if calls, open := countCalls(filepath.Join(t.TempDir(), "missing")); calls != 0 || open != 0 {
		t.Errorf("missing file: %d, %d", calls, open)
	}
}
