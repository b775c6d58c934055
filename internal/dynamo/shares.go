package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
	"github.com/promptq/promptq/internal/quota"
)

// Shares keeps, in the jobs table, who is running what in each lane, so
// that every worker can hold a user to their fair share of the lane
// (quota.FairShare). It is safe for concurrent use.
//
// Three kinds of item, in one partition per lane:
//
//	pk = LANE#<lane>  sk = ACTIVE#<time>         users: the owners seen with work in the lane in the 10 s from <time>
//	pk = LANE#<lane>  sk = ACTIVE#<time>#<sub>   n: the owner's messages sent to the lane whose count ends at <time>, and not yet received
//	pk = LANE#<lane>  sk = USER#<sub>            slots: job id → when the slot lapses (epoch ms), v: version
//
// A user counts in a lane's shares while a worker received one of their
// messages in the last activeWindow (whether it ran or had to wait), and
// while messages of theirs wait in the lane's queue: each send adds to
// their count of messages waiting, in the item of the minute that count
// ends, pendingFor after the send or up to a minute more ([Shares.Waiting]:
// the API when it queues jobs, a worker when it sends one back to wait),
// and each receipt takes one off the first of their counts that holds
// some ([Shares.Acquire]). A count that went wrong (a message lost, or sent
// by a path that does not count: a replay, the rescuer) ends with its
// item, pendingFor after the sends it counted. Both kinds of ACTIVE item
// sort by time, so who has work in a lane is one Query of a key range that
// holds only the items that can still count: the users seen in the last
// activeWindow and the counts not yet ended. Its cost follows the users of
// the last few minutes, not every user whose items TTL has not deleted
// yet. A user whose last jobs are running and who has nothing more
// waiting stops counting soon after, so the others get the lane back: a
// share is of the users who want it now. A slot lapses at the time its
// holder gives: a lease, which a worker renews while the job runs
// ([Shares.Renew]). So a worker that dies, or could not give a slot back,
// frees it within a lease without anyone cleaning up.
type Shares struct {
	client *dynamodb.Client
	table  string
	now    func() time.Time

	mu      sync.Mutex
	marked  map[string]bool            // lane/owner/bucket already added to its ACTIVE item
	active  map[jobs.Lane]activeCached // the lane's active users, briefly cached
	refused map[string]refusal         // lane/owner → their last refusal, while it holds (refusedFor)
}

// refusal is an owner refused in a lane: until when it holds, and the
// jobs that held their slots then (a copy of one of their messages is
// admitted in the slot it holds, quota.SlotHeld, not refused).
type refusal struct {
	until   time.Time
	holding map[string]bool
}

// refusedFor is how long a refusal holds for an owner's next jobs in a
// lane, unless this process gives one of their slots back meanwhile: a
// backlog whose messages come back while its owner runs their share is
// sent back without a read of their slots each. Another process's release
// is seen after at most this long; it only makes a job wait again.
const refusedFor = 200 * time.Millisecond

type activeCached struct {
	users   map[string]bool
	seen    map[string]bool           // owners a worker received a message of in the last activeWindow
	pending map[string][]pendingCount // owner → their counts not yet ended, earliest first
	at      time.Time
}

// pendingCount is one of an owner's counts of messages waiting, as read.
type pendingCount struct {
	sk string
	n  int64
}

// activeCacheFor is how long a worker reuses its count of a lane's active
// users. A newcomer is counted within this long; one Query a second per
// worker keeps the read cost flat however many jobs start.
const activeCacheFor = time.Second

// activeBucket is the span of one ACTIVE item, and activeWindow how long
// after it was last seen a user counts as having work: the current and the
// previous bucket's items, 10 to 20 seconds. Short, because a user who has
// gone holds the others to a share until then, and their jobs sent back
// meanwhile wait; long enough to span the seconds between two of a
// waiting user's messages coming back.
const (
	activeBucket = 10 * time.Second
	activeWindow = activeBucket
)

// pendingFor bounds how long a count of a user's messages waiting holds
// after the sends it counted. Messages waiting are counted rather than seen because a worker
// may not see them for a while: on an SQS fair queue it takes seconds, but
// on a queue that hands messages out first in, first out (the local
// stand-in) a newcomer's messages, or one sent back, are received only
// after a pass through the backlog ahead of them, which an activeWindow
// would not cover; the newcomer would then stop counting, the backlog would
// run instead of waiting, and their jobs would wait behind all of it. The
// bound only matters when the count went wrong.
const pendingFor = 5 * time.Minute

// NewShares returns the shares of the lanes in table. now may be nil
// (time.Now).
func NewShares(client *dynamodb.Client, table string, now func() time.Time) *Shares {
	if now == nil {
		now = time.Now
	}
	return &Shares{client: client, table: table, now: now,
		marked: map[string]bool{}, active: map[jobs.Lane]activeCached{}, refused: map[string]refusal{}}
}

// stillRefused reports whether owner was refused in lane less than
// refusedFor ago, with none of their slots given back here since, and
// jobID held none of their slots then.
func (s *Shares) stillRefused(lane jobs.Lane, owner, jobID string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refused[string(lane)+"/"+owner]
	return ok && now.Before(r.until) && !r.holding[jobID]
}

// noteRefused records a refusal of owner in lane at now, when the jobs in
// live held their slots; with a zero now, that one of their slots was
// given back: the refusal no longer holds.
func (s *Shares) noteRefused(lane jobs.Lane, owner string, now time.Time, live map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := string(lane) + "/" + owner
	if now.IsZero() {
		delete(s.refused, key)
		return
	}
	if len(s.refused) > 10_000 {
		clear(s.refused)
	}
	holding := make(map[string]bool, len(live))
	for id := range live {
		holding[id] = true
	}
	s.refused[key] = refusal{until: now.Add(refusedFor), holding: holding}
}

func lanePK(lane jobs.Lane) string { return jobstable.LanePrefix + string(lane.OrDefault()) }

// activeSK is the sort key of the ACTIVE item of t's bucket.
func activeSK(t time.Time) string {
	return activePrefix + t.UTC().Truncate(activeBucket).Format(skTime)
}

// skTime is the layout of the times in ACTIVE items' sort keys.
const skTime = "2006-01-02T15:04:05"

// pendingSK is the sort key of the item that counts owner's messages sent
// at t: ACTIVE#<the whole minute its count ends, pendingFor after t or up
// to a minute more>#<owner>.
func pendingSK(owner string, t time.Time) string {
	end := t.UTC().Add(pendingFor).Truncate(time.Minute).Add(time.Minute)
	return activePrefix + end.Format(skTime) + "#" + owner
}

// parsePendingSK reads the sort key of a count of messages waiting: when
// it ends and whose it is. ok is false for any other item.
func parsePendingSK(sk string) (end time.Time, owner string, ok bool) {
	rest, ok := strings.CutPrefix(sk, activePrefix)
	if !ok || len(rest) <= len(skTime) || rest[len(skTime)] != '#' {
		return time.Time{}, "", false
	}
	end, err := time.Parse(skTime, rest[:len(skTime)])
	if err != nil {
		return time.Time{}, "", false
	}
	return end, rest[len(skTime)+1:], true
}

// Waiting records that n more of owner's messages were sent to lane's
// queue: the lane's shares count owner until workers have received as
// many (or for pendingFor after this send).
func (s *Shares) Waiting(ctx context.Context, lane jobs.Lane, owner string, n int) error {
	now := s.now().UTC()
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      keyOf(lanePK(lane), pendingSK(owner, now)),
		UpdateExpression:         aws.String("ADD #n :n SET #expires_at = :expires"),
		ExpressionAttributeNames: map[string]string{"#n": "n", "#expires_at": attrExpiresAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n":       num(int64(n)),
			":expires": num(now.Add(pendingFor + time.Hour).Unix()),
		},
	})
	if err != nil {
		return fmt.Errorf("record %s waiting in the %s lane: %w", owner, lane, translate(err))
	}
	return nil
}

// seen records that a worker received one of owner's messages in lane:
// they count in its shares for the next activeWindow. Each owner is
// written at most once a bucket by a process.
func (s *Shares) seen(ctx context.Context, lane jobs.Lane, owner string) error {
	now := s.now().UTC()
	bucket := activeSK(now)
	key := "active/" + string(lane) + "/" + owner + "/" + bucket
	if s.done(key) {
		return nil
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      keyOf(lanePK(lane), bucket),
		UpdateExpression:         aws.String("ADD #users :user SET #expires_at = :expires"),
		ExpressionAttributeNames: map[string]string{"#users": "users", "#expires_at": attrExpiresAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":user":    &types.AttributeValueMemberSS{Value: []string{owner}},
			":expires": num(now.Add(time.Hour).Unix()),
		},
	})
	if err != nil {
		return fmt.Errorf("record %s active in the %s lane: %w", owner, lane, translate(err))
	}
	s.remember(key)
	return nil
}

// Received takes one of owner's messages off their counts of messages
// waiting in lane, as Acquire does for a job it admits: for a job that
// runs though Acquire refused it, on a seat borrowed past its owner's
// share (quota.Asker.PastShare).
func (s *Shares) Received(ctx context.Context, lane jobs.Lane, owner string) error {
	return s.received(ctx, lane, owner)
}

// received takes one of owner's messages off their counts of messages
// waiting in lane, never below zero: off the first count that holds some
// as this worker last read them (the messages received first are mostly
// those sent first), or else off the count of sends made since that read.
// A message no count is found for (other workers took the last ones off
// meanwhile) is left: its count ends on its own.
func (s *Shares) received(ctx context.Context, lane jobs.Lane, owner string) error {
	latest := pendingSK(owner, s.now())
	var tries []string
	s.mu.Lock()
	for _, p := range s.active[lane].pending[owner] {
		if p.n > 0 && p.sk != latest {
			tries = append(tries, p.sk)
		}
	}
	s.mu.Unlock()
	tries = append(tries[:min(len(tries), receivedTries-1)], latest)
	for _, sk := range tries {
		_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.table),
			Key:                       keyOf(lanePK(lane), sk),
			UpdateExpression:          aws.String("ADD #n :minus"),
			ConditionExpression:       aws.String("#n > :zero"),
			ExpressionAttributeNames:  map[string]string{"#n": "n"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":minus": num(-1), ":zero": num(0)},
		})
		switch {
		case err == nil:
			s.took(lane, owner, sk)
			return nil
		case !isConditionFailed(err):
			return fmt.Errorf("count %s's message received in the %s lane: %w", owner, lane, translate(err))
		}
	}
	return nil
}

// receivedTries bounds the writes one receipt makes to find a count to
// take its message off: each that finds none costs a write unit.
const receivedTries = 3

// took notes in this worker's read of lane's counts that one message came
// off owner's count sk, so that the next receipt before the next read
// looks at the right one.
func (s *Shares) took(lane jobs.Lane, owner, sk string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.active[lane].pending[owner] {
		if p.sk == sk {
			s.active[lane].pending[owner][i].n--
		}
	}
}

// pendingNum reads a number attribute (0 if absent).
func pendingNum(av types.AttributeValue) int64 {
	n, ok := av.(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	v, _ := strconv.ParseInt(n.Value, 10, 64)
	return v
}

// done reports whether this process wrote key's item already.
func (s *Shares) done(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.marked[key]
}

// remember notes that this process wrote key's item.
func (s *Shares) remember(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.marked) > 10_000 {
		clear(s.marked) // older buckets are of no use; start over
	}
	s.marked[key] = true
}

// activeUsers is the owners with work in lane: seen by a worker over the
// last activeWindow, or with messages waiting. One Query reads both kinds
// of item, from the oldest that can still count on: their sort keys start
// with the time (ACTIVE#<time>), so the range holds the items of the last
// activeWindow and the counts that end after it, whatever the items of
// earlier users that TTL has not deleted yet.
func (s *Shares) activeUsers(ctx context.Context, lane jobs.Lane) (map[string]bool, error) {
	now := s.now().UTC()
	s.mu.Lock()
	c, ok := s.active[lane]
	s.mu.Unlock()
	if ok && now.Sub(c.at) < activeCacheFor && now.Sub(c.at) >= 0 {
		return c.users, nil
	}
	c = activeCached{users: map[string]bool{}, seen: map[string]bool{}, pending: map[string][]pendingCount{}, at: now}
	p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :from AND :to"),
		ExpressionAttributeNames: map[string]string{"#pk": jobstable.PartitionKey, "#sk": jobstable.SortKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":   str(lanePK(lane)),
			":from": str(activeSK(now.Add(-activeWindow))),
			":to":   str(activePrefix + "\uffff"),
		},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("count the users of the %s lane: %w", lane, translate(err))
		}
		for _, av := range out.Items {
			if ss, ok := av["users"].(*types.AttributeValueMemberSS); ok {
				for _, u := range ss.Value {
					c.users[u], c.seen[u] = true, true
				}
				continue
			}
			sk, _ := av[attrSK].(*types.AttributeValueMemberS)
			if sk == nil {
				continue
			}
			// A count that ended at most activeWindow ago is in the range
			// too: it no longer counts.
			if end, owner, ok := parsePendingSK(sk.Value); ok && end.After(now) {
				if n := pendingNum(av["n"]); n > 0 {
					c.users[owner] = true
					c.pending[owner] = append(c.pending[owner], pendingCount{sk: sk.Value, n: n})
				}
			}
		}
	}
	s.mu.Lock()
	s.active[lane] = c
	s.mu.Unlock()
	return c.users, nil
}

// Active is the owners with work in lane, as last counted (the count
// Acquire uses, cached for activeCacheFor): how many, and the newcomers
// among them, whose messages wait in the lane's queue and none of whose
// messages a worker received in the last activeWindow.
func (s *Shares) Active(ctx context.Context, lane jobs.Lane) (users int, newcomers map[string]bool, err error) {
	all, err := s.activeUsers(ctx, lane)
	if err != nil {
		return 0, nil, err
	}
	newcomers = map[string]bool{}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.active[lane]
	for owner, counts := range c.pending {
		for _, p := range counts {
			if p.n > 0 && !c.seen[owner] {
				newcomers[owner] = true
			}
		}
	}
	return len(all), newcomers, nil
}

// slotsItem is a user's running jobs in a lane.
type slotsItem struct {
	Slots map[string]int64 `dynamodbav:"slots"`
	V     int64            `dynamodbav:"v"`
}

// Acquire decides whether owner's job jobID may run now in lane: only if
// owner runs fewer of the lane's jobs than their fair share of its
// capacity. Owner counts as active in the lane, and a job admitted takes
// its message off their count of messages waiting, whatever the cached
// count says (a count that grew since would otherwise keep the owner
// counted after they have gone). A job refused stays counted: its caller
// sends it back to wait. A caller that sends an admitted job back (the
// model's pace) says so with Waiting.
//
// When owner is the only user with work in the lane, their share is all
// of it, which the lane's own concurrency already enforces: the job may
// run and no slot is written (quota.SlotNone: there is nothing to
// Release). Otherwise the job takes a slot that lapses at until
// (quota.SlotTaken), or is refused (quota.SlotRefused) when owner runs
// their share already. A job that holds a slot already is admitted and
// its slot left as it is (quota.SlotHeld): this message is a copy of one
// whose worker holds the slot, or held it and died, and only a worker
// that then claims the job may take the slot over (Renew) and give it
// back; a copy that gave it back would let its owner run one job over
// their share until the holder's next renewal. A user who was alone when
// their running jobs started is counted only by the jobs they start
// later; within one job's time their count is exact again. An owner
// refused here less than refusedFor ago is refused again without a read,
// unless this process gave one of their slots back since.
func (s *Shares) Acquire(ctx context.Context, lane jobs.Lane, owner, jobID string, capacity int, until time.Time) (quota.Slot, error) {
	if err := s.seen(ctx, lane, owner); err != nil {
		return quota.SlotRefused, err
	}
	if s.stillRefused(lane, owner, jobID, s.now()) {
		return quota.SlotRefused, nil
	}
	users, err := s.activeUsers(ctx, lane)
	if err != nil {
		return quota.SlotRefused, err
	}
	n := len(users)
	if !users[owner] {
		n++ // counted from now on; the cache may predate it
	}
	if n == 1 {
		return quota.SlotNone, s.received(ctx, lane, owner)
	}
	share := quota.FairShare(capacity, n)
	slot := quota.SlotRefused
	var holding map[string]int64
	err = s.modify(ctx, lane, owner, func(live map[string]int64) bool {
		switch _, held := live[jobID]; {
		case held:
			slot = quota.SlotHeld
			return false
		case len(live) >= share:
			slot, holding = quota.SlotRefused, live
			return false
		}
		live[jobID] = until.UnixMilli()
		slot = quota.SlotTaken
		return true
	})
	if err != nil {
		return quota.SlotRefused, fmt.Errorf("take a slot in the %s lane for %s: %w", lane, owner, err)
	}
	if slot.Admitted() {
		return slot, s.received(ctx, lane, owner)
	}
	s.noteRefused(lane, owner, s.now(), holding)
	return slot, nil
}

// Release gives back the slot jobID holds in owner's share of lane.
func (s *Shares) Release(ctx context.Context, lane jobs.Lane, owner, jobID string) error {
	err := s.modify(ctx, lane, owner, func(live map[string]int64) bool {
		if _, held := live[jobID]; !held {
			return false
		}
		delete(live, jobID)
		return true
	})
	if err != nil {
		return fmt.Errorf("give back %s's slot in the %s lane: %w", owner, lane, err)
	}
	s.noteRefused(lane, owner, time.Time{}, nil)
	return nil
}

// Renew extends the slot jobID holds in owner's share of lane to until:
// the job is still running. A slot that lapsed meanwhile is taken again,
// since the job runs whatever the count says, and being counted is what
// holds its owner to their share.
func (s *Shares) Renew(ctx context.Context, lane jobs.Lane, owner, jobID string, until time.Time) error {
	err := s.modify(ctx, lane, owner, func(live map[string]int64) bool {
		live[jobID] = until.UnixMilli()
		return true
	})
	if err != nil {
		return fmt.Errorf("renew %s's slot in the %s lane: %w", owner, lane, err)
	}
	return nil
}

// modify reads owner's live slots in lane and writes back what change
// makes of them, on the condition that nobody wrote them since; change
// returns false to write nothing. (A REMOVE of one map key would release a
// slot in one write, but kumo ignores REMOVE of a nested key, so the tests
// could not show it works.)
func (s *Shares) modify(ctx context.Context, lane jobs.Lane, owner string, change func(live map[string]int64) bool) error {
	key := keyOf(lanePK(lane), userPrefix+owner)
	for attempt := 1; ; attempt++ {
		got, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return translate(err)
		}
		var cur slotsItem
		if err := attributevalue.UnmarshalMap(got.Item, &cur); err != nil {
			return err
		}
		now := s.now()
		live := map[string]int64{}
		latest := now.UnixMilli()
		for id, exp := range cur.Slots {
			if exp > now.UnixMilli() {
				live[id] = exp
				latest = max(latest, exp)
			}
		}
		if !change(live) {
			return nil
		}
		for _, exp := range live {
			latest = max(latest, exp)
		}
		slots, err := attributevalue.Marshal(live)
		if err != nil {
			return err
		}
		in := &dynamodb.UpdateItemInput{
			TableName:                aws.String(s.table),
			Key:                      key,
			UpdateExpression:         aws.String("SET #slots = :slots, #v = :next, #expires_at = :expires"),
			ExpressionAttributeNames: map[string]string{"#slots": "slots", "#v": "v", "#expires_at": attrExpiresAt},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":slots": slots, ":next": num(cur.V + 1),
				// A day after its last slot lapses, TTL may delete it.
				":expires": num(time.UnixMilli(latest).Add(24 * time.Hour).Unix()),
			},
		}
		if got.Item == nil {
			in.ConditionExpression = aws.String("attribute_not_exists(#v)")
		} else {
			in.ConditionExpression = aws.String("#v = :v")
			in.ExpressionAttributeValues[":v"] = num(cur.V)
		}
		_, err = s.client.UpdateItem(ctx, in)
		switch {
		case err == nil:
			return nil
		case isConditionFailed(err) && attempt < 8:
			continue // another worker changed the owner's slots since the read
		case isConditionFailed(err):
			return unavailable(errors.New("the slots kept changing under eight attempts"))
		default:
			return translate(err)
		}
	}
}

// Running returns how many live slots owner holds in lane (for tests and
// measurements).
func (s *Shares) Running(ctx context.Context, lane jobs.Lane, owner string) (int, error) {
	got, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table),
		Key: keyOf(lanePK(lane), userPrefix+owner), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, translate(err)
	}
	var cur slotsItem
	if err := attributevalue.UnmarshalMap(got.Item, &cur); err != nil {
		return 0, err
	}
	n, nowMS := 0, s.now().UnixMilli()
	for _, exp := range cur.Slots {
		if exp > nowMS {
			n++
		}
	}
	return n, nil
}
