package dynamo

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// A job's search item sits beside its job item, in its owner's partition:
//
//	SRCH#<id>   prompt_terms (its prompt's and system prompt's words,
//	            jobs.SearchTerms), answer_terms (its answer's), expires_at
//
// Search queries these items alone, with a filter on the terms, so a
// search reads each of a user's jobs once, about as many bytes as its
// distinct words (a few KB for a long answer), never its prompt or text:
// every word of either, not only their previews. The item is written with
// the job (a PutItem beside the input item's, at the same time) and gets
// the answer's terms when the job succeeds (one UpdateItem after the
// finish). Both are best effort: a job whose search item could not be
// written is a job a search does not find, not a job lost. Jobs made
// before search items existed have none (they expire with the jobs).

const searchPrefix = jobstable.SearchPrefix

type searchItem struct {
	jobstable.Key
	Prompt    string `dynamodbav:"prompt_terms"`
	Answer    string `dynamodbav:"answer_terms,omitempty"`
	ExpiresAt int64  `dynamodbav:"expires_at"`
}

func searchSK(id string) string { return searchPrefix + id }

// searchAV is the search item of a new job: its prompt's terms, and those
// of the text it starts with (a continuation's).
func searchAV(j jobs.Job) (map[string]types.AttributeValue, error) {
	return attributevalue.MarshalMap(searchItem{
		Key:       jobstable.Key{PK: userPK(j.Owner), SK: searchSK(j.ID)},
		Prompt:    jobs.SearchTerms(jobs.PromptTermsBytes, j.Prompt, j.System),
		Answer:    jobs.SearchTerms(jobs.AnswerTermsBytes, j.GeneratedText),
		ExpiresAt: j.ExpiresAt.Unix(),
	})
}

// putSearch writes a new job's search item. Unconditional: a retried
// create writes the same, and an item whose job was never written (a
// replay that found its key's job) is never found (Search reads the job
// items of what matches) and goes with TTL.
func (s *Store) putSearch(ctx context.Context, j jobs.Job) {
	av, err := searchAV(j)
	if err == nil {
		_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: av})
	}
	if err != nil {
		slog.WarnContext(ctx, "could not write the job's search terms; a search will not find it", "job_id", j.ID, "error", translate(err))
	}
}

// indexAnswer adds a succeeded job's answer to its search item, if it has
// one.
func (s *Store) indexAnswer(ctx context.Context, owner, id, text string) {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(userPK(owner), searchSK(id)),
		UpdateExpression:          aws.String("SET #answer_terms = :terms"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  names("#answer_terms", "#pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":terms": str(jobs.SearchTerms(jobs.AnswerTermsBytes, text))},
	})
	if err != nil && !isConditionFailed(err) {
		slog.WarnContext(ctx, "could not write the job's answer's search terms; a search will not find its words", "job_id", id, "error", translate(err))
	}
}

// A Search reads search items a page at a time: searchFirstPage jobs'
// first (a common word fills a page of matches from the newest few), then
// four times as many a page, up to Options.SearchPageJobs
// (DefaultSearchPageJobs; DynamoDB also ends a page at 1 MB), and at most
// SearchPages times that in all before it answers with what it found and
// a cursor to search on from: a bound on a request's time and cost however
// many jobs a user has, 2,000 jobs or 4 MB, about 260 read units.
const (
	SearchPages           = 4
	DefaultSearchPageJobs = 500
	searchFirstPage       = 50
)

// Search returns the owner's jobs whose search terms hold every one of
// words (jobs.SearchWords), newest first, up to limit, as List shows them
// (previews). It reads the owner's search items newest first, a page at a
// time (a Query of their key range, filtered on the terms, eventually
// consistent: a job a second old may not be found yet), until it has
// limit jobs or has read its bound (SearchPages pages of the most jobs a
// page holds); NextCursor then says where to
// search on, and is "" once every job was searched. A page may hold fewer
// than limit jobs, even none, with a cursor.
func (s *Store) Search(ctx context.Context, owner string, words []string, limit int, cursor string) (jobs.Page, error) {
	if limit < 1 {
		return jobs.Page{}, jobs.Invalid("limit", "limit must be at least 1.")
	}
	if len(words) == 0 {
		return jobs.Page{}, jobs.Invalid("q", "q must have a word to look for.")
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames:  names("#pk", "#sk", "#prompt_terms", "#answer_terms"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(userPK(owner)), ":prefix": str(searchPrefix)},
		ScanIndexForward:          aws.Bool(false),
		// The keys only: what to show comes from the job items.
		ProjectionExpression: aws.String("#sk"),
	}
	var filter []string
	for i, w := range words {
		v := fmt.Sprintf(":w%d", i)
		in.ExpressionAttributeValues[v] = str(w)
		filter = append(filter, fmt.Sprintf("(contains(#prompt_terms, %s) OR contains(#answer_terms, %s))", v, v))
	}
	in.FilterExpression = aws.String(strings.Join(filter, " AND "))
	if cursor != "" {
		after, err := decodeCursor(cursor)
		if err != nil {
			return jobs.Page{}, err
		}
		in.ExclusiveStartKey = keyOf(userPK(owner), searchSK(after))
	}
	var ids []string
	next := ""
	budget := SearchPages * s.opts.SearchPageJobs
	size := min(searchFirstPage, s.opts.SearchPageJobs)
	for read := 0; ; {
		in.Limit = aws.Int32(int32(size))
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return jobs.Page{}, fmt.Errorf("search jobs: %w", translate(err))
		}
		for _, av := range out.Items {
			var it struct {
				jobstable.Key
			}
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				return jobs.Page{}, fmt.Errorf("search jobs: %w", err)
			}
			ids = append(ids, strings.TrimPrefix(it.SK, searchPrefix))
		}
		if len(ids) >= limit {
			// Go on after the last one shown: the rest of this page is
			// read again, which is cheaper than remembering it.
			ids = ids[:limit]
			next = encodeCursor(ids[limit-1])
			break
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		var last struct {
			jobstable.Key
		}
		if err := attributevalue.UnmarshalMap(out.LastEvaluatedKey, &last); err != nil {
			return jobs.Page{}, fmt.Errorf("search jobs: %w", err)
		}
		if read += int(out.ScannedCount); read >= budget {
			next = encodeCursor(strings.TrimPrefix(last.SK, searchPrefix))
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		size = min(4*size, s.opts.SearchPageJobs, budget-read)
	}
	found, err := s.jobItems(ctx, owner, ids)
	if err != nil {
		return jobs.Page{}, fmt.Errorf("search jobs: %w", err)
	}
	return jobs.Page{Jobs: found, NextCursor: next}, nil
}

// jobItems reads the owner's jobs ids (their items: previews), in the
// order given, leaving out any that no longer exist.
func (s *Store) jobItems(ctx context.Context, owner string, ids []string) ([]jobs.Job, error) {
	byID := map[string]jobs.Job{}
	for start := 0; start < len(ids); start += batchGetMax {
		var keys []map[string]types.AttributeValue
		for _, id := range ids[start:min(start+batchGetMax, len(ids))] {
			keys = append(keys, jobKey(owner, id))
		}
		avs, err := s.batchGet(ctx, keys)
		if err != nil {
			return nil, err
		}
		for _, av := range avs {
			j, err := decodeJob(av)
			if err != nil {
				return nil, err
			}
			byID[j.ID] = j
		}
	}
	out := make([]jobs.Job, 0, len(ids))
	for _, id := range ids {
		if j, ok := byID[id]; ok {
			out = append(out, j)
		}
	}
	return out, nil
}
