package dynamo

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// activeProjection is what activeIndex carries besides its keys
// (jobstable.ActiveProjection).
var activeProjection = jobstable.ActiveProjection()

// Stale yields the active jobs that have shown no sign of life since
// before: queued jobs last updated before it, and running jobs whose lease
// lapsed before it. Each job has only Owner, ID, Status, Lane, Attempts,
// UpdatedAt and LeaseUntil set. It scans activeIndex, which holds only
// queued and running jobs, so its cost grows with the backlog, not with
// the table.
//
// The index is eventually consistent: a job may have moved on since, so a
// caller acts on a yielded job only with a conditional write. Iteration
// stops at the first error, which is yielded.
func (s *Store) Stale(ctx context.Context, before time.Time) iter.Seq2[jobs.Job, error] {
	return func(yield func(jobs.Job, error) bool) {
		p := dynamodb.NewScanPaginator(s.client, &dynamodb.ScanInput{
			TableName: aws.String(s.table),
			IndexName: aws.String(activeIndex),
			// A coarse filter that saves sending fresh jobs back; the
			// precise test is staleJob's (updated_at compares as a
			// string, which is exact only to the second).
			FilterExpression: aws.String("(#status = :queued AND #updated_at < :before) OR " +
				"(#status = :running AND #lease_until < :before_ms)"),
			ExpressionAttributeNames: names("#status", "#updated_at", "#lease_until"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":queued":    statusValue(jobs.StatusQueued),
				":running":   statusValue(jobs.StatusRunning),
				":before":    str(formatTime(before.Add(time.Second))),
				":before_ms": num(millis(before)),
			},
		})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				yield(jobs.Job{}, fmt.Errorf("scan for stale jobs: %w", translate(err)))
				return
			}
			for _, av := range out.Items {
				j, err := staleEntry(av)
				if err != nil {
					yield(jobs.Job{}, err)
					return
				}
				if !j.StaleSince(before) {
					continue
				}
				if !yield(j, nil) {
					return
				}
			}
		}
	}
}

// staleEntry decodes an activeIndex entry: the owner and id come from the
// keys, the rest from activeProjection.
func staleEntry(av map[string]types.AttributeValue) (jobs.Job, error) {
	s := func(name string) string {
		v, _ := av[name].(*types.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	n := func(name string) int64 {
		v, _ := av[name].(*types.AttributeValueMemberN)
		if v == nil {
			return 0
		}
		i, _ := strconv.ParseInt(v.Value, 10, 64)
		return i
	}
	owner, ok1 := strings.CutPrefix(s(attrPK), userPrefix)
	id, ok2 := strings.CutPrefix(s(attrSK), jobPrefix)
	if !ok1 || !ok2 {
		return jobs.Job{}, fmt.Errorf("scan for stale jobs: index entry %q %q is not a job", s(attrPK), s(attrSK))
	}
	j := jobs.Job{
		ID:         id,
		Owner:      owner,
		Status:     jobs.Status(s(attrStatus)),
		Lane:       jobs.Lane(s(attrLane)).OrDefault(),
		Attempts:   int(n(attrAttempts)),
		LeaseUntil: fromMillis(n(attrLeaseUntil)),
	}
	if !j.Status.Valid() {
		// A table made before the index projected its attributes.
		return jobs.Job{}, fmt.Errorf("scan for stale jobs: index entry of job %s has no valid status (%q); the %q index must project %s",
			id, j.Status, activeIndex, strings.Join(activeProjection, ", "))
	}
	var err error
	if j.UpdatedAt, err = parseTime(s(attrUpdatedAt)); err != nil {
		return jobs.Job{}, fmt.Errorf("scan for stale jobs: job %s: %w", id, err)
	}
	// Every job has updated_at, and a running one a lease: without them
	// every job would look stale, so a projection that lacks them is an
	// error, not a guess.
	if j.UpdatedAt.IsZero() || (j.Status == jobs.StatusRunning && j.LeaseUntil.IsZero()) {
		return jobs.Job{}, fmt.Errorf("scan for stale jobs: index entry of job %s lacks updated_at or lease_until; the %q index must project %s",
			id, activeIndex, strings.Join(activeProjection, ", "))
	}
	return j, nil
}
