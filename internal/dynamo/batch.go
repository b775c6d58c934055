package dynamo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// Bulk limits of DynamoDB's APIs.
const (
	batchWriteMax = 25  // BatchWriteItem requests per call
	batchGetMax   = 100 // BatchGetItem keys per call
	// transactJobsMax jobs per TransactWriteItems: two actions each (job
	// and idempotency record) within the 100-action limit.
	transactJobsMax = 50
)

// CreateMany stores many jobs with few calls, for POST /generate/batch, with
// Create's meaning for each: results[i] answers items[i].
//
//   - Jobs without an idempotency key have fresh random ids and need no
//     condition, so they go in BatchWriteItem calls of 25.
//   - Jobs with a key are looked up first (BatchGetItem of their records):
//     a live record answers the entry at once (the original job, or a
//     mismatch), which keeps a re-run of a whole batch cheap. The rest are
//     written with their records in TransactWriteItems of 50, conditioned
//     like Create; BatchWriteItem takes no conditions, and without them two
//     concurrent runs could both create a job for one key.
//   - An entry whose transaction is cancelled (another writer took its key
//     between the look-up and the write) falls back to Create, which sorts
//     it out alone; the other entries of that transaction are retried.
//
// A fresh batch of 100 keyed jobs costs one BatchGetItem and two
// TransactWriteItems; a batch of one is a Create.
func (s *Store) CreateMany(ctx context.Context, items []jobs.NewJob) []jobs.CreateResult {
	if len(items) == 1 {
		// One write, or one transaction, with no look-up first: a
		// submission of one (POST /generate) costs what Create costs.
		results := make([]jobs.CreateResult, 1)
		s.createEach(ctx, items, []int{0}, results)
		return results
	}
	now := s.now()
	results := make([]jobs.CreateResult, len(items))
	var plain, keyed []int
	firstOfKey := map[string]int{} // owner+key → first index using it
	var dupes, seeded []int
	for i, it := range items {
		if it.Job.Owner == "" || it.Job.ID == "" {
			results[i].Err = fmt.Errorf("create job: owner and id are required")
			continue
		}
		items[i].Job = it.Job.AsNew(now, s.opts.JobTTL)
		if it.Job.GeneratedText != "" {
			// A continuation (POST /generate only): Create writes its
			// text's chunks before its job item.
			seeded = append(seeded, i)
			continue
		}
		if it.Job.IdempotencyKey == "" {
			plain = append(plain, i)
			continue
		}
		k := it.Job.Owner + "\x00" + it.Job.IdempotencyKey
		if _, seen := firstOfKey[k]; seen {
			// One transaction cannot touch the same record twice; these
			// are answered from the first entry with the key, below.
			dupes = append(dupes, i)
			continue
		}
		firstOfKey[k] = i
		keyed = append(keyed, i)
	}

	fresh := s.resolveKnownKeys(ctx, items, keyed, results, now)
	// The jobs' input items first (text.go): a job item is written only
	// after its input.
	ready := s.putInputs(ctx, items, append(slices.Clone(plain), fresh...), results)
	s.putSearches(ctx, items, ready)
	plain = slices.DeleteFunc(plain, func(i int) bool { return !ready[i] })
	fresh = slices.DeleteFunc(fresh, func(i int) bool { return !ready[i] })
	s.writePlain(ctx, items, plain, results)
	for start := 0; start < len(fresh); start += transactJobsMax {
		end := min(start+transactJobsMax, len(fresh))
		s.writeKeyed(ctx, items, fresh[start:end], results, now)
	}
	s.createEach(ctx, items, seeded, results)
	for _, i := range dupes {
		first := firstOfKey[items[i].Job.Owner+"\x00"+items[i].Job.IdempotencyKey]
		switch {
		case results[first].Err != nil:
			results[i].Err = results[first].Err
		case items[first].Fingerprint != items[i].Fingerprint:
			results[i].Err = jobs.ErrIdempotencyMismatch
		default:
			results[i] = jobs.CreateResult{Job: results[first].Job}
		}
	}
	return results
}

// putInputs writes the input items of items[idx] with BatchWriteItem,
// retrying unprocessed ones with backoff, and says which were written; the
// others get their error in results.
func (s *Store) putInputs(ctx context.Context, items []jobs.NewJob, idx []int, results []jobs.CreateResult) map[int]bool {
	ready := map[int]bool{}
	for start := 0; start < len(idx); start += batchWriteMax {
		chunk := idx[start:min(start+batchWriteMax, len(idx))]
		var reqs []types.WriteRequest
		for _, i := range chunk {
			// Ids are fresh UUIDv7s: no condition, which BatchWriteItem
			// cannot take anyway.
			av, err := inputAV(items[i].Job, "")
			if err != nil {
				results[i].Err = fmt.Errorf("create job %s: %w", items[i].Job.ID, err)
				continue
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		}
		reqs, err := s.batchWrite(ctx, reqs)
		left := map[string]bool{}
		for _, r := range reqs {
			var in inputItem
			if attributevalue.UnmarshalMap(r.PutRequest.Item, &in) == nil {
				left[in.SK] = true
			}
		}
		for _, i := range chunk {
			switch {
			case results[i].Err != nil:
			case left[inSK(items[i].Job.ID)]:
				results[i].Err = fmt.Errorf("create job %s: %w", items[i].Job.ID, err)
			default:
				ready[i] = true
			}
		}
	}
	return ready
}

// putSearches writes the search items of items[i] for each i of ready
// (search.go), with BatchWriteItem; one that cannot be written leaves its
// job unfound by a search, nothing worse.
func (s *Store) putSearches(ctx context.Context, items []jobs.NewJob, ready map[int]bool) {
	var reqs []types.WriteRequest
	for i := range items {
		if !ready[i] {
			continue
		}
		av, err := searchAV(items[i].Job)
		if err != nil {
			slog.WarnContext(ctx, "could not write a job's search terms; a search will not find it", "job_id", items[i].Job.ID, "error", err)
			continue
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
	}
	for len(reqs) > 0 {
		n := min(len(reqs), batchWriteMax)
		if left, err := s.batchWrite(ctx, reqs[:n]); err != nil {
			slog.WarnContext(ctx, "could not write some jobs' search terms; a search will not find them", "jobs", len(left), "error", err)
		}
		reqs = reqs[n:]
	}
}

// batchWrite writes reqs with BatchWriteItem, trying the items DynamoDB
// left unprocessed again with backoff, up to 5 calls. It returns the
// requests still unprocessed and why (unavailable when only DynamoDB's
// backlog is to blame).
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) ([]types.WriteRequest, error) {
	var err error
	for attempt := 1; len(reqs) > 0 && attempt <= 5; attempt++ {
		var out *dynamodb.BatchWriteItemOutput
		out, err = s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{s.table: reqs},
		})
		if err != nil {
			return reqs, translate(err)
		}
		if reqs = out.UnprocessedItems[s.table]; len(reqs) > 0 {
			if err = sleep(ctx, time.Duration(attempt*attempt)*50*time.Millisecond); err != nil {
				return reqs, err
			}
		}
	}
	if len(reqs) > 0 {
		err = unavailable(errors.New("DynamoDB left items unprocessed after 5 attempts"))
	}
	return reqs, err
}

// writePlain stores jobs without keys with BatchWriteItem, retrying
// unprocessed items with backoff.
func (s *Store) writePlain(ctx context.Context, items []jobs.NewJob, idx []int, results []jobs.CreateResult) {
	for start := 0; start < len(idx); start += batchWriteMax {
		chunk := idx[start:min(start+batchWriteMax, len(idx))]
		byID := map[string]int{}
		var reqs []types.WriteRequest
		for _, i := range chunk {
			it := toItem(items[i].Job)
			it.WriteToken = newWriteToken()
			av, err := attributevalue.MarshalMap(it)
			if err != nil {
				results[i].Err = fmt.Errorf("create job %s: %w", items[i].Job.ID, err)
				continue
			}
			byID[items[i].Job.ID] = i
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		}
		reqs, err := s.batchWrite(ctx, reqs)
		failed := map[int]bool{}
		if len(reqs) > 0 {
			for _, r := range reqs {
				var it item
				if attributevalue.UnmarshalMap(r.PutRequest.Item, &it) == nil {
					failed[byID[it.ID]] = true
				}
			}
		}
		for _, i := range chunk {
			switch {
			case results[i].Err != nil:
			case failed[i]:
				results[i].Err = fmt.Errorf("create job %s: %w", items[i].Job.ID, err)
			default:
				results[i] = jobs.CreateResult{Job: items[i].Job, Created: true}
			}
		}
	}
}

// resolveKnownKeys answers the entries whose key already has a live record
// and returns the indexes still to write.
func (s *Store) resolveKnownKeys(ctx context.Context, items []jobs.NewJob, idx []int, results []jobs.CreateResult, now time.Time) []int {
	if len(idx) == 0 {
		return nil
	}
	records := map[string]idemRecord{} // owner\x00key → record
	for start := 0; start < len(idx); start += batchGetMax {
		var keys []map[string]types.AttributeValue
		for _, i := range idx[start:min(start+batchGetMax, len(idx))] {
			keys = append(keys, idemKey(items[i].Job.Owner, items[i].Job.IdempotencyKey))
		}
		got, err := s.batchGet(ctx, keys)
		if err != nil {
			// Without the look-up every entry takes the transaction path,
			// whose conditions still keep keys unique.
			return idx
		}
		for _, av := range got {
			var rec idemRecord
			if attributevalue.UnmarshalMap(av, &rec) == nil {
				records[rec.PK+"\x00"+rec.SK] = rec
			}
		}
	}
	var fresh []int
	var known []int
	for _, i := range idx {
		j := items[i].Job
		rec, ok := records[userPK(j.Owner)+"\x00"+idemSK(j.IdempotencyKey)]
		switch {
		case !ok || rec.ExpiresAt < now.Unix():
			fresh = append(fresh, i)
		case rec.Fingerprint != items[i].Fingerprint:
			results[i].Err = jobs.ErrIdempotencyMismatch
		default:
			known = append(known, i)
		}
	}
	// The original jobs, for their current status.
	for start := 0; start < len(known); start += batchGetMax {
		chunk := known[start:min(start+batchGetMax, len(known))]
		var keys []map[string]types.AttributeValue
		for _, i := range chunk {
			rec := records[userPK(items[i].Job.Owner)+"\x00"+idemSK(items[i].Job.IdempotencyKey)]
			keys = append(keys, jobKey(items[i].Job.Owner, rec.JobID))
		}
		got, err := s.batchGet(ctx, keys)
		byKey := map[string]jobs.Job{}
		for _, av := range got {
			if j, derr := decodeJob(av); derr == nil {
				byKey[j.Owner+"\x00"+j.ID] = j
			}
		}
		for _, i := range chunk {
			rec := records[userPK(items[i].Job.Owner)+"\x00"+idemSK(items[i].Job.IdempotencyKey)]
			if j, ok := byKey[items[i].Job.Owner+"\x00"+rec.JobID]; ok {
				results[i] = jobs.CreateResult{Job: j}
				continue
			}
			if err != nil {
				results[i].Err = fmt.Errorf("idempotency key's job %s: %w", rec.JobID, err)
				continue
			}
			// The record outlived its job (TTL): let Create decide.
			fresh = append(fresh, i)
		}
	}
	return fresh
}

// batchGet reads keys with consistent reads, retrying unprocessed keys.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	for attempt := 1; len(keys) > 0; attempt++ {
		res, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}},
		})
		if err != nil {
			return out, fmt.Errorf("batch get: %w", translate(err))
		}
		out = append(out, res.Responses[s.table]...)
		keys = res.UnprocessedKeys[s.table].Keys
		if len(keys) > 0 {
			if attempt == 5 {
				return out, fmt.Errorf("batch get: %w", unavailable(errors.New("keys left unprocessed after 5 attempts")))
			}
			if err := sleep(ctx, time.Duration(attempt*attempt)*50*time.Millisecond); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// writeKeyed writes up to 50 keyed jobs and their records in one
// transaction. Entries that make it fail go through Create one by one.
func (s *Store) writeKeyed(ctx context.Context, items []jobs.NewJob, idx []int, results []jobs.CreateResult, now time.Time) {
	for len(idx) > 0 {
		var actions []types.TransactWriteItem
		for _, i := range idx {
			j := items[i].Job
			it := toItem(j)
			it.WriteToken = newWriteToken()
			jobAV, err1 := attributevalue.MarshalMap(it)
			recAV, err2 := attributevalue.MarshalMap(idemRecord{
				Key: jobstable.Key{PK: userPK(j.Owner), SK: idemSK(j.IdempotencyKey)}, JobID: j.ID,
				Fingerprint: items[i].Fingerprint, ExpiresAt: now.Add(s.opts.IdempotencyTTL).Unix(),
			})
			if err := errors.Join(err1, err2); err != nil {
				results[i].Err = fmt.Errorf("create job %s: %w", j.ID, err)
				continue
			}
			actions = append(actions,
				types.TransactWriteItem{Put: &types.Put{
					TableName: aws.String(s.table), Item: jobAV,
					ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: names("#pk"),
				}},
				types.TransactWriteItem{Put: &types.Put{
					TableName: aws.String(s.table), Item: recAV,
					ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #expires_at < :now"),
					ExpressionAttributeNames:  names("#pk", "#expires_at"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix())},
				}},
			)
		}
		if len(actions) == 0 {
			return
		}
		_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: actions})
		if err == nil {
			for _, i := range idx {
				if results[i].Err == nil {
					results[i] = jobs.CreateResult{Job: items[i].Job, Created: true}
				}
			}
			return
		}
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) || len(canceled.CancellationReasons) != len(actions) {
			// Not a per-item cancellation (throttling, a stand-in without
			// reasons): each entry alone, so one bad call fails no others.
			s.createEach(ctx, items, idx, results)
			return
		}
		// Entries whose own actions failed go alone; the rest try again.
		var retry []int
		n := 0
		for _, i := range idx {
			if results[i].Err != nil {
				continue
			}
			jobReason, recReason := canceled.CancellationReasons[n], canceled.CancellationReasons[n+1]
			n += 2
			if code(jobReason) == "" && code(recReason) == "" || code(jobReason) == "None" && code(recReason) == "None" {
				retry = append(retry, i)
			} else {
				s.createEach(ctx, items, []int{i}, results)
			}
		}
		if len(retry) == len(idx) {
			// Nothing singled out (a conflict with a concurrent
			// transaction): one by one rather than spin.
			s.createEach(ctx, items, retry, results)
			return
		}
		idx = retry
	}
}

func code(r types.CancellationReason) string { return aws.ToString(r.Code) }

func (s *Store) createEach(ctx context.Context, items []jobs.NewJob, idx []int, results []jobs.CreateResult) {
	for _, i := range idx {
		job, created, err := s.Create(ctx, items[i].Job, items[i].Fingerprint)
		results[i] = jobs.CreateResult{Job: job, Created: created, Err: err}
	}
}
