package dynamo

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
)

// JobFromImage decodes an item of the jobs table as a stream record carries
// it (converted to the DynamoDB client's attribute values), so readers of
// the table's stream need not know its key layout. ok is false for items
// that are not jobs (idempotency records, counters).
func JobFromImage(av map[string]types.AttributeValue) (j jobs.Job, ok bool, err error) {
	sk, isString := av[attrSK].(*types.AttributeValueMemberS)
	if !isString || !strings.HasPrefix(sk.Value, jobPrefix) {
		return jobs.Job{}, false, nil
	}
	j, err = decodeJob(av)
	if err != nil {
		return jobs.Job{}, true, err
	}
	return j, true, nil
}
