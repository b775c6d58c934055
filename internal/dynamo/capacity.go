package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
	"github.com/promptq/promptq/internal/quota"
)

// Capacity keeps each model's seats (quota.Seat) in the jobs table: how
// many generations run on the model at once, whatever their lane, and
// which job holds each seat. One item a seat, in one partition per model:
//
//	pk = CAP#<model>  sk = SEAT#<0000 index>  job, owner, lane, until, since (epoch ms), lent, past_share, displaced,
//	                                          yield, for, reserved_until (epoch ms), v (version), expires_at
//
// A seat is free when it has no item, no job, or a lease (until) that
// lapsed. Every write is conditioned on the one item it changes: taking a
// seat on its version as read (or on its absence), so two jobs can never
// hold one seat and the model never runs more than its seats; renewing
// and giving it back on its holder. There is no item that every worker
// writes and none that grows with the quota. Reading a model's seats is
// one strongly consistent Query of its partition (a read unit for about
// twenty seats).
//
// Which seat a job may take is quota.Quota.Choose's to say; Capacity only
// reads and writes. It is safe for concurrent use.
type Capacity struct {
	client *dynamodb.Client
	table  string
	now    func() time.Time
}

// NewCapacity returns the models' seats in table. now may be nil
// (time.Now).
func NewCapacity(client *dynamodb.Client, table string, now func() time.Time) *Capacity {
	if now == nil {
		now = time.Now
	}
	return &Capacity{client: client, table: table, now: now}
}

// seatItem is a seat's item.
type seatItem struct {
	jobstable.Key
	Job           string    `dynamodbav:"job,omitempty"`
	Owner         string    `dynamodbav:"owner,omitempty"`
	Lane          jobs.Lane `dynamodbav:"lane,omitempty"`
	Until         int64     `dynamodbav:"until,omitempty"`
	Since         int64     `dynamodbav:"since,omitempty"`
	Lent          bool      `dynamodbav:"lent,omitempty"`
	PastShare     bool      `dynamodbav:"past_share,omitempty"`
	Displaced     bool      `dynamodbav:"displaced,omitempty"`
	Yield         bool      `dynamodbav:"yield,omitempty"`
	For           string    `dynamodbav:"for,omitempty"`
	ReservedUntil int64     `dynamodbav:"reserved_until,omitempty"`
	V             int64     `dynamodbav:"v"`
}

func (it seatItem) seat(index int) quota.Seat {
	return quota.Seat{
		Index: index,
		Holder: quota.Holder{Job: it.Job, Owner: it.Owner, Lane: it.Lane,
			Until: fromMillis(it.Until), Since: fromMillis(it.Since), Lent: it.Lent, PastShare: it.PastShare, Displaced: it.Displaced},
		AskedBack: it.Yield, For: it.For, ReservedUntil: fromMillis(it.ReservedUntil), Version: it.V,
	}
}

func seatKey(model string, index int) map[string]types.AttributeValue {
	return keyOf(jobstable.CapacityKey(model), jobstable.SeatKey(index))
}

// Seats reads model's seats 0 to n-1; a seat without an item is free, at
// version 0.
func (c *Capacity) Seats(ctx context.Context, model string, n int) ([]quota.Seat, error) {
	seats := make([]quota.Seat, n)
	for i := range seats {
		seats[i].Index = i
	}
	p := dynamodb.NewQueryPaginator(c.client, &dynamodb.QueryInput{
		TableName:                aws.String(c.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :seat)"),
		ExpressionAttributeNames: map[string]string{"#pk": jobstable.PartitionKey, "#sk": jobstable.SortKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(jobstable.CapacityKey(model)), ":seat": str(jobstable.SeatPrefix),
		},
		ConsistentRead: aws.Bool(true),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the seats of %s: %w", model, translate(err))
		}
		for _, av := range out.Items {
			var it seatItem
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				return nil, fmt.Errorf("read the seats of %s: %w", model, err)
			}
			i, err := strconv.Atoi(strings.TrimPrefix(it.SK, jobstable.SeatPrefix))
			if err != nil || i < 0 || i >= n {
				continue // a seat of a larger quota than today's
			}
			seats[i] = it.seat(i)
		}
	}
	return seats, nil
}

// seatExpiry is when TTL may delete a seat's item that stays as written
// until t: a day after. A seat's item gone is a free seat.
func seatExpiry(t time.Time) types.AttributeValue { return num(t.Add(24 * time.Hour).Unix()) }

// asRead conditions a write on seat s being as read: at its version, or
// absent if it had no item.
func asRead(in *dynamodb.UpdateItemInput, s quota.Seat) {
	if s.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#v)")
		return
	}
	in.ConditionExpression = aws.String("#v = :v")
	in.ExpressionAttributeValues[":v"] = num(s.Version)
}

// Take has h take seat s of model, on the condition that the seat is still
// as read. A seat that changed since (another job took it, or it was asked
// back) is an error matching jobs.ErrConflict: read the seats again.
func (c *Capacity) Take(ctx context.Context, model string, s quota.Seat, h quota.Holder) error {
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(c.table),
		Key:       seatKey(model, s.Index),
		UpdateExpression: aws.String("SET #job = :job, #owner = :owner, #lane = :lane, #until = :until, #since = :since, " +
			"#lent = :lent, #past_share = :past_share, #displaced = :displaced, #v = :next, #expires_at = :expires REMOVE #yield, #for, #reserved_until"),
		ExpressionAttributeNames: map[string]string{"#job": "job", "#owner": "owner", "#lane": "lane", "#until": "until",
			"#since": "since", "#lent": "lent", "#past_share": "past_share", "#displaced": "displaced", "#v": "v", "#expires_at": attrExpiresAt,
			"#yield": "yield", "#for": "for", "#reserved_until": "reserved_until"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":job": str(h.Job), ":owner": str(h.Owner), ":lane": str(string(h.Lane.OrDefault())),
			":until": num(millis(h.Until)), ":since": num(millis(h.Since)),
			":lent":       &types.AttributeValueMemberBOOL{Value: h.Lent},
			":past_share": &types.AttributeValueMemberBOOL{Value: h.PastShare},
			":displaced":  &types.AttributeValueMemberBOOL{Value: h.Displaced},
			":next":       num(s.Version + 1), ":expires": seatExpiry(h.Until),
		},
	}
	asRead(in, s)
	err := c.conditional(ctx, in, func(now quota.Seat) bool { return now.Job == h.Job && millis(now.Since) == millis(h.Since) })
	if err != nil {
		return fmt.Errorf("take seat %d of %s for job %s: %w", s.Index, model, h.Job, err)
	}
	return nil
}

// AskBack asks the lent seat s of model back for job (an interactive job,
// or a bulk job within its owner's share),
// on the condition that the seat is still as read: its holder gives it
// back at its next flush, reserved for job (Release). A seat that changed
// since is an error matching jobs.ErrConflict.
func (c *Capacity) AskBack(ctx context.Context, model string, s quota.Seat, job string) error {
	in := &dynamodb.UpdateItemInput{
		TableName:                aws.String(c.table),
		Key:                      seatKey(model, s.Index),
		UpdateExpression:         aws.String("SET #yield = :true, #for = :for, #v = :next REMOVE #reserved_until"),
		ExpressionAttributeNames: map[string]string{"#yield": "yield", "#for": "for", "#v": "v", "#reserved_until": "reserved_until"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":true": &types.AttributeValueMemberBOOL{Value: true}, ":for": str(job), ":next": num(s.Version + 1),
		},
	}
	asRead(in, s)
	err := c.conditional(ctx, in, func(now quota.Seat) bool { return now.AskedBack && now.For == job && now.Job == s.Job })
	if err != nil {
		return fmt.Errorf("ask seat %d of %s back for job %s: %w", s.Index, model, job, err)
	}
	return nil
}

// Renew extends the lease of the seat job holds, seat index of model, to
// until. A seat job no longer holds (its lease lapsed and another job took
// it) is an error matching jobs.ErrConflict.
func (c *Capacity) Renew(ctx context.Context, model string, index int, job string, until time.Time) error {
	_, err := c.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(c.table),
		Key:                      seatKey(model, index),
		UpdateExpression:         aws.String("SET #until = :until, #expires_at = :expires ADD #v :one"),
		ConditionExpression:      aws.String("#job = :job"),
		ExpressionAttributeNames: map[string]string{"#until": "until", "#expires_at": attrExpiresAt, "#v": "v", "#job": "job"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":until": num(millis(until)), ":expires": seatExpiry(until), ":one": num(1), ":job": str(job),
		},
	})
	switch {
	case isConditionFailed(err):
		return fmt.Errorf("renew seat %d of %s for job %s: %w", index, model, job, jobs.ErrConflict)
	case err != nil:
		return fmt.Errorf("renew seat %d of %s for job %s: %w", index, model, job, translate(err))
	}
	return nil
}

// Release gives back the seat job holds, seat index of model. A seat asked
// back stays reserved for the job that asked (quota.SeatReserve from now).
// A seat job no longer holds is left as it is (an error matching
// jobs.ErrConflict).
func (c *Capacity) Release(ctx context.Context, model string, index int, job string) error {
	now := c.now()
	_, err := c.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(c.table),
		Key:       seatKey(model, index),
		UpdateExpression: aws.String("SET #reserved_until = :reserved, #expires_at = :expires ADD #v :one " +
			"REMOVE #job, #owner, #lane, #until, #since, #lent, #past_share, #displaced, #yield"),
		ConditionExpression: aws.String("#job = :job"),
		ExpressionAttributeNames: map[string]string{"#reserved_until": "reserved_until", "#expires_at": attrExpiresAt, "#v": "v",
			"#job": "job", "#owner": "owner", "#lane": "lane", "#until": "until", "#since": "since", "#lent": "lent",
			"#past_share": "past_share", "#displaced": "displaced", "#yield": "yield"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			// Without a "for" the reservation is for nobody: the seat is free.
			":reserved": num(millis(now.Add(quota.SeatReserve))), ":expires": seatExpiry(now), ":one": num(1), ":job": str(job),
		},
	})
	switch {
	case isConditionFailed(err):
		return fmt.Errorf("give back seat %d of %s for job %s: %w", index, model, job, jobs.ErrConflict)
	case err != nil:
		return fmt.Errorf("give back seat %d of %s for job %s: %w", index, model, job, translate(err))
	}
	return nil
}

// AskedBack reports whether the seat job holds, seat index of model, was
// asked back: the flusher of a job on a lent seat reads it every flush, an
// eventually consistent read of a few attributes (half a read unit).
func (c *Capacity) AskedBack(ctx context.Context, model string, index int, job string) (bool, error) {
	out, err := c.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(c.table),
		Key:                      seatKey(model, index),
		ProjectionExpression:     aws.String("#job, #yield"),
		ExpressionAttributeNames: map[string]string{"#job": "job", "#yield": "yield"},
	})
	if err != nil {
		return false, fmt.Errorf("read whether seat %d of %s was asked back: %w", index, model, translate(err))
	}
	var it seatItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return false, fmt.Errorf("read whether seat %d of %s was asked back: %w", index, model, err)
	}
	return it.Job == job && it.Yield, nil
}

// conditional makes the conditional write in. A condition that failed is
// jobs.ErrConflict unless the seat, read again, shows the write done
// (done): the SDK retried a request whose first attempt had made it.
func (c *Capacity) conditional(ctx context.Context, in *dynamodb.UpdateItemInput, done func(quota.Seat) bool) error {
	_, err := c.client.UpdateItem(ctx, in)
	switch {
	case err == nil:
		return nil
	case !isConditionFailed(err):
		return translate(err)
	}
	out, gerr := c.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.table), Key: in.Key, ConsistentRead: aws.Bool(true)})
	if gerr == nil && out.Item != nil {
		var it seatItem
		if attributevalue.UnmarshalMap(out.Item, &it) == nil && done(it.seat(0)) {
			return nil
		}
	}
	return jobs.ErrConflict
}
