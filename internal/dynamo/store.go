package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// Options tune a Store. Zero fields take the defaults documented on each.
type Options struct {
	// JobTTL is how long a job is kept before TTL deletes it.
	// Default jobs.DefaultJobTTL.
	JobTTL time.Duration
	// IdempotencyTTL is how long an Idempotency-Key keeps returning its
	// job. Default jobs.IdempotencyTTL.
	IdempotencyTTL time.Duration
	// Now is the clock. Default time.Now; tests move time with it.
	Now func() time.Time
	// SearchPageJobs is how many jobs' search items one page of a search
	// reads at most (a Query's Limit; DynamoDB also ends a page at 1 MB),
	// of which a search reads SearchPages. Default DefaultSearchPageJobs.
	SearchPageJobs int
}

func (o Options) withDefaults() Options {
	if o.JobTTL <= 0 {
		o.JobTTL = jobs.DefaultJobTTL
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = jobs.IdempotencyTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SearchPageJobs <= 0 {
		o.SearchPageJobs = DefaultSearchPageJobs
	}
	return o
}

// Store keeps jobs in one DynamoDB table. It is safe for concurrent use.
type Store struct {
	client *dynamodb.Client
	table  string
	opts   Options
}

// New returns a store on table, which must exist (see CreateTable).
func New(client *dynamodb.Client, table string, opts Options) *Store {
	return &Store{client: client, table: table, opts: opts.withDefaults()}
}

// now is the store's clock in UTC without a monotonic reading, so times
// round-trip through the table unchanged.
func (s *Store) now() time.Time { return s.opts.Now().UTC() }

// createAttempts bounds how often Create retries a transaction that lost to
// a concurrent one (TransactionConflict) or found a record that then
// vanished; more than a couple means something is wrong.
const createAttempts = 4

// Create stores job as queued and returns it as stored, with created true.
// The store sets Status, Attempts, CreatedAt and UpdatedAt (CreatedAt is
// kept when set) and ExpiresAt (now + JobTTL when zero).
//
// With an IdempotencyKey, the job and the key's record are written in one
// transaction. When the owner already used the key within IdempotencyTTL,
// nothing is written: with the same fingerprint Create returns the original
// job and created false; with another it returns an error matching
// jobs.ErrIdempotencyMismatch. Of several concurrent creates with one key,
// exactly one stores its job and the others return it.
func (s *Store) Create(ctx context.Context, job jobs.Job, fingerprint string) (jobs.Job, bool, error) {
	if job.Owner == "" || job.ID == "" {
		return jobs.Job{}, false, fmt.Errorf("create job: owner and id are required")
	}
	now := s.now()
	job = job.AsNew(now, s.opts.JobTTL)
	it := toItem(job)
	it.WriteToken = newWriteToken()
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return jobs.Job{}, false, fmt.Errorf("create job %s: %w", job.ID, err)
	}
	// The job's search item goes beside its input item, at the same time:
	// no longer for it (search.go).
	searched := make(chan struct{})
	go func() {
		defer close(searched)
		s.putSearch(ctx, job)
	}()
	err = s.putInput(ctx, job, it.WriteToken)
	<-searched
	if err != nil {
		return jobs.Job{}, false, fmt.Errorf("create job %s: %w", job.ID, err)
	}
	if job.GeneratedText != "" {
		if err := s.putSeed(ctx, job); err != nil {
			return jobs.Job{}, false, fmt.Errorf("create job %s: its text to continue: %w", job.ID, err)
		}
	}
	putJob := &types.Put{
		TableName:                aws.String(s.table),
		Item:                     av,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: names("#pk"),
	}
	if job.IdempotencyKey == "" {
		_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                putJob.TableName,
			Item:                     putJob.Item,
			ConditionExpression:      putJob.ConditionExpression,
			ExpressionAttributeNames: putJob.ExpressionAttributeNames,
		})
		if isConditionFailed(err) {
			return s.createExisting(ctx, job, it.WriteToken)
		}
		if err != nil {
			return jobs.Job{}, false, fmt.Errorf("create job %s: %w", job.ID, translate(err))
		}
		return job, true, nil
	}

	for attempt := 1; ; attempt++ {
		created, existing, err := s.createIdempotent(ctx, job, putJob, fingerprint, now)
		switch {
		case err == nil && created:
			return job, true, nil
		case err == nil:
			return existing, false, nil
		case errors.Is(err, errRetry) && attempt < createAttempts:
			if err := sleep(ctx, time.Duration(attempt)*20*time.Millisecond); err != nil {
				return jobs.Job{}, false, fmt.Errorf("create job %s: %w", job.ID, err)
			}
		case errors.Is(err, errRetry):
			return jobs.Job{}, false, fmt.Errorf("create job %s: %w", job.ID,
				unavailable(fmt.Errorf("idempotency key stayed contended after %d attempts", attempt)))
		default:
			return jobs.Job{}, false, fmt.Errorf("create job %s: %w", job.ID, err)
		}
	}
}

// createExisting explains a Put of job that found an item with its id.
// When the item carries this Put's write token, it is this very job,
// written by an earlier attempt of the same call whose answer was lost (the
// SDK retries after a 5xx or a dropped connection): reporting an error then
// would leave a stored job that the API never queues. Anything else is a
// conflict (ids are random, so in practice a bug).
func (s *Store) createExisting(ctx context.Context, job jobs.Job, token string) (jobs.Job, bool, error) {
	it, err := s.getItem(ctx, job.Owner, job.ID)
	if err == nil && it.WriteToken == token {
		return job, true, nil
	}
	if err == nil || errors.Is(err, jobs.ErrNotFound) {
		err = fmt.Errorf("a job with this id exists: %w", jobs.ErrConflict)
	}
	return jobs.Job{}, false, fmt.Errorf("create job %s: %w", job.ID, err)
}

// errRetry tells Create to try its transaction again.
var errRetry = errors.New("retry")

// createIdempotent makes one attempt at writing job and its idempotency
// record together. It returns created true, or the job the live record
// points to, or an error (errRetry when another try may succeed).
func (s *Store) createIdempotent(ctx context.Context, job jobs.Job, putJob *types.Put, fingerprint string, now time.Time) (bool, jobs.Job, error) {
	rec, err := attributevalue.MarshalMap(idemRecord{
		Key:         jobstable.Key{PK: userPK(job.Owner), SK: idemSK(job.IdempotencyKey)},
		JobID:       job.ID,
		Fingerprint: fingerprint,
		ExpiresAt:   now.Add(s.opts.IdempotencyTTL).Unix(),
	})
	if err != nil {
		return false, jobs.Job{}, err
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Put: putJob},
			{Put: &types.Put{
				TableName: aws.String(s.table),
				Item:      rec,
				// TTL deletes expired records late, so an expired one
				// counts as absent and is overwritten.
				ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #expires_at < :now"),
				ExpressionAttributeNames:            names("#pk", "#expires_at"),
				ExpressionAttributeValues:           map[string]types.AttributeValue{":now": num(now.Unix())},
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}},
		},
	})
	if err == nil {
		return true, jobs.Job{}, nil
	}
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return false, jobs.Job{}, translate(err)
	}
	reasons := canceled.CancellationReasons
	switch {
	case reasonIs(reasons, 0, "ConditionalCheckFailed"):
		return false, jobs.Job{}, fmt.Errorf("a job with this id exists: %w", jobs.ErrConflict)
	case reasonIs(reasons, 1, "ConditionalCheckFailed"):
		// The key is taken; fall through to read whose it is.
	case reasonIs(reasons, 0, "TransactionConflict"), reasonIs(reasons, 1, "TransactionConflict"):
		// A concurrent create with the same key is mid-flight.
		return false, jobs.Job{}, errRetry
	default:
		return false, jobs.Job{}, translate(err)
	}

	var found idemRecord
	if len(reasons) > 1 && len(reasons[1].Item) > 0 {
		err = attributevalue.UnmarshalMap(reasons[1].Item, &found)
	} else {
		found, err = s.getRecord(ctx, job.Owner, job.IdempotencyKey)
	}
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return false, jobs.Job{}, errRetry // deleted since: try again
	case err != nil:
		return false, jobs.Job{}, err
	case found.ExpiresAt < now.Unix():
		return false, jobs.Job{}, errRetry // expired since
	case found.Fingerprint != fingerprint:
		return false, jobs.Job{}, jobs.ErrIdempotencyMismatch
	}
	orig, err := s.Get(ctx, job.Owner, found.JobID)
	if err != nil {
		return false, jobs.Job{}, fmt.Errorf("idempotency key's job %s: %w", found.JobID, err)
	}
	return false, orig, nil
}

func (s *Store) getRecord(ctx context.Context, owner, key string) (idemRecord, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            idemKey(owner, key),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return idemRecord{}, translate(err)
	}
	if len(out.Item) == 0 {
		return idemRecord{}, jobs.ErrNotFound
	}
	var rec idemRecord
	if err := attributevalue.UnmarshalMap(out.Item, &rec); err != nil {
		return idemRecord{}, fmt.Errorf("decode idempotency record: %w", err)
	}
	return rec, nil
}

// Get returns the owner's job id, or an error matching jobs.ErrNotFound.
// Reads are strongly consistent: a worker reads right after its own writes,
// and a client polling a job should never see it go backwards.
func (s *Store) Get(ctx context.Context, owner, id string) (jobs.Job, error) {
	j, err := s.get(ctx, owner, id)
	if err != nil {
		return jobs.Job{}, fmt.Errorf("get job %s: %w", id, err)
	}
	if e := j.Economy; e != nil && e.RunID != "" {
		// An economy job in a run shows the run's progress: one more
		// read, for those jobs only. A run not recorded yet (its
		// collector is claiming its jobs) shows none.
		r, err := s.Run(ctx, e.RunID)
		switch {
		case errors.Is(err, jobs.ErrNotFound):
		case err != nil:
			return jobs.Job{}, fmt.Errorf("get job %s: %w", id, err)
		default:
			e.RecordsDone, e.RecordsTotal = r.Done, r.Records
		}
	}
	return j, nil
}

// Head is the owner's job as its item holds it (status, lane, attempts,
// budget, its run), with the previews of its prompt and text: one read,
// without the prompt's and text's items or its run's progress. For a
// caller that decides by the job's state, such as the economy lane's
// completion, which has the text in hand.
func (s *Store) Head(ctx context.Context, owner, id string) (jobs.Job, error) {
	it, err := s.getItem(ctx, owner, id)
	if err != nil {
		return jobs.Job{}, fmt.Errorf("read job %s: %w", id, err)
	}
	return it.job()
}

func (s *Store) get(ctx context.Context, owner, id string) (jobs.Job, error) {
	it, err := s.getItem(ctx, owner, id)
	if err != nil {
		return jobs.Job{}, err
	}
	j, err := it.job()
	if err != nil {
		return jobs.Job{}, err
	}
	return s.complete(ctx, j, it.TextBytes)
}

func (s *Store) getItem(ctx context.Context, owner, id string) (item, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            jobKey(owner, id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return item{}, translate(err)
	}
	if len(out.Item) == 0 {
		return item{}, jobs.ErrNotFound
	}
	return decodeItem(out.Item)
}

// List returns one page of the owner's jobs, newest first. cursor is ""
// for the first page and then the previous page's NextCursor, which is ""
// after the last page. A cursor only names a position among the caller's
// own jobs (the owner always comes from the caller), so it can never reach
// another user's items; a malformed one is a KindInvalid error.
func (s *Store) List(ctx context.Context, owner string, limit int, cursor string) (jobs.Page, error) {
	if limit < 1 {
		return jobs.Page{}, jobs.Invalid("limit", "limit must be at least 1.")
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: names("#pk", "#sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":     str(userPK(owner)),
			":prefix": str(jobPrefix),
		},
		ScanIndexForward: aws.Bool(false),
		ConsistentRead:   aws.Bool(true),
		// One more than asked tells whether there is a next page, so the
		// last page never carries a cursor to an empty one.
		Limit: aws.Int32(int32(min(limit, 1000) + 1)),
	}
	if cursor != "" {
		after, err := decodeCursor(cursor)
		if err != nil {
			return jobs.Page{}, err
		}
		in.ExclusiveStartKey = jobKey(owner, after)
	}
	out, err := s.client.Query(ctx, in)
	if err != nil {
		return jobs.Page{}, fmt.Errorf("list jobs: %w", translate(err))
	}
	page := jobs.Page{Jobs: make([]jobs.Job, 0, min(len(out.Items), limit))}
	for _, av := range out.Items {
		if len(page.Jobs) == limit {
			page.NextCursor = encodeCursor(page.Jobs[limit-1].ID)
			break
		}
		j, err := decodeJob(av)
		if err != nil {
			return jobs.Page{}, fmt.Errorf("list jobs: %w", err)
		}
		page.Jobs = append(page.Jobs, j)
	}
	// A page cut short by DynamoDB's 1 MB limit has more after it too.
	if page.NextCursor == "" && len(out.LastEvaluatedKey) > 0 && len(page.Jobs) > 0 {
		page.NextCursor = encodeCursor(page.Jobs[len(page.Jobs)-1].ID)
	}
	return page, nil
}

// encodeCursor makes the opaque cursor: the last listed job's id, base64url
// so clients don't mistake it for something to build themselves.
func encodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

func decodeCursor(cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !jobs.ValidID(string(b)) {
		return "", jobs.Invalid("cursor", "cursor is not one this API returned.")
	}
	return string(b), nil
}

// SentBack records that a worker sent the owner's queued job's message
// back to wait (its owner at their fair share, the model's pace): a new
// message, which comes back after w.After. sent_at becomes that time, so a
// replay counts from when the message is due (internal/submit resends only
// a job whose message is overdue) and GET /jobs/{id}'s Retry-After tells
// pollers to come back then; waiting says why (w). A job no longer queued
// (claimed through another message, or ended) is left as it is. One
// UpdateItem of attributes no index projects: a write unit for a job item
// of up to 1 KB.
func (s *Store) SentBack(ctx context.Context, owner, id string, w jobs.Wait) error {
	wv, err := waitValue(w)
	if err != nil {
		return fmt.Errorf("record job %s sent back: %w", id, err)
	}
	update, values := "SET #sent_at = :due REMOVE #waiting", map[string]types.AttributeValue{
		":due":    str(formatTime(s.now().Add(w.After))),
		":queued": statusValue(jobs.StatusQueued),
	}
	if w.Reason != "" {
		update, values[":waiting"] = "SET #sent_at = :due, #waiting = :waiting", wv
	}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       jobKey(owner, id),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND #status = :queued"),
		ExpressionAttributeNames:  names("#pk", "#status", "#sent_at", "#waiting"),
		ExpressionAttributeValues: values,
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("record job %s sent back: %w", id, translate(err))
	}
	return nil
}

// names maps each #placeholder to the attribute it stands for (its name
// without the #). DynamoDB rejects unused names, so each call lists its own.
func names(placeholders ...string) map[string]string {
	m := make(map[string]string, len(placeholders))
	for _, p := range placeholders {
		m[p] = strings.TrimPrefix(p, "#")
	}
	return m
}

var placeholderRE = regexp.MustCompile(`#[a-z_]+`)

// namesIn is names for every placeholder used in exprs.
func namesIn(exprs ...string) map[string]string {
	var ps []string
	for _, e := range exprs {
		ps = append(ps, placeholderRE.FindAllString(e, -1)...)
	}
	return names(ps...)
}

func reasonIs(reasons []types.CancellationReason, i int, code string) bool {
	return i < len(reasons) && aws.ToString(reasons[i].Code) == code
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
