package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
)

// Watch marks the owner's job as watched until until (jobs.NeedsWatchMark
// says when the API should): its worker then writes its text as often as an
// interactive job's. It writes only the job item's watched_until, which
// no index projects, so it costs one write unit; a job that has ended, or
// is marked for longer already, is left as it is.
func (s *Store) Watch(ctx context.Context, owner, id string, until time.Time) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              jobKey(owner, id),
		UpdateExpression: aws.String("SET #watched_until = :until"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #status IN (:queued, :running) AND " +
			"(attribute_not_exists(#watched_until) OR #watched_until < :until)"),
		ExpressionAttributeNames: names("#pk", "#status", "#watched_until"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":until":   num(millis(until)),
			":queued":  statusValue(jobs.StatusQueued),
			":running": statusValue(jobs.StatusRunning),
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("watch job %s: %w", id, translate(err))
	}
	return nil
}

// WatchedUntil reads when the owner's job stops counting as watched (zero:
// never watched). It is an eventually consistent read of one attribute:
// half a read unit, and a mark a second late changes nothing.
func (s *Store) WatchedUntil(ctx context.Context, owner, id string) (time.Time, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(s.table),
		Key:                      jobKey(owner, id),
		ProjectionExpression:     aws.String("#watched_until"),
		ExpressionAttributeNames: names("#watched_until"),
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("read job %s's watch: %w", id, translate(err))
	}
	return fromMillis(int64(intAttr(out.Item[attrWatchedUntil]))), nil
}
