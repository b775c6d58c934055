package dynamo

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// Key prefixes. The owner is in the partition key of every item.
const (
	userPrefix = jobstable.UserPrefix
	jobPrefix  = jobstable.JobPrefix
	idemPrefix = jobstable.IdemPrefix
	// In a lane's partition (Shares): who had work in the lane, by time:
	// the users seen at a time, and counts of messages waiting by when
	// they end.
	activePrefix = jobstable.ActivePrefix
	// inPrefix and outPrefix are a job's input and output items (text.go),
	// outside JOB#, so listing a user's jobs reads only job items.
	inPrefix  = jobstable.InPrefix
	outPrefix = jobstable.OutPrefix
)

// Attribute names that expressions refer to. They are all spelled out as
// #name placeholders, since status is a reserved word and a uniform rule is
// easier to read than a list of exceptions.
const (
	attrPK             = jobstable.PartitionKey
	attrSK             = jobstable.SortKey
	attrStatus         = "status"
	attrAttempts       = "attempts"
	attrLeaseUntil     = "lease_until"
	attrWatchedUntil   = "watched_until"
	attrTextBytes      = "text_bytes"
	attrTextPreview    = "text_preview"
	attrInputTokens    = "input_tokens"
	attrOutputTokens   = "output_tokens"
	attrCacheRead      = "cache_read_tokens"
	attrCacheWrite     = "cache_write_tokens"
	attrContinuations  = "continuations"
	attrStopReason     = "stop_reason"
	attrFailureCode    = "failure_code"
	attrFailureMessage = "failure_message"
	attrStartedAt      = "started_at"
	attrUpdatedAt      = "updated_at"
	attrFinishedAt     = "finished_at"
	attrExpiresAt      = jobstable.TTLAttribute
	attrJobID          = "job_id"
	attrIdemKey        = "idempotency_key"
	attrActiveOwner    = jobstable.ActiveOwnerAttribute
	attrLane           = "lane"
	attrSentAt         = "sent_at"

	// activeIndex is the sparse index of jobs that are queued or running:
	// active_owner (the owner, set only while a job is active) and sk,
	// projecting activeProjection. Counting a user's active jobs reads only
	// its keys; Stale reads the projection.
	activeIndex = jobstable.ActiveIndex
)

// item is a job as stored, without its prompt, system prompt and text:
// those are in the job's input and output items (text.go), so that writing
// the job (a progress write, about once a second) costs the same whatever
// their size, and no item can outgrow DynamoDB's 400 KB. The item keeps
// previews of the prompt and the text for listings.
//
// Times a person reads are RFC 3339 strings; lease_until is epoch
// milliseconds and expires_at epoch seconds, because conditions compare
// them as numbers and TTL requires seconds.
type item struct {
	jobstable.Key
	ID     string `dynamodbav:"job_id"`
	Owner  string `dynamodbav:"owner"`
	Status string `dynamodbav:"status"`
	Lane   string `dynamodbav:"lane,omitempty"` // absent: interactive (jobs from before lanes)
	// PromptPreview and TextPreview are jobs.Preview of the prompt and the
	// text (the latter written when the job ends: a running job's listing
	// shows no text); TextBytes is the text's length, which the output
	// items hold.
	PromptPreview  string   `dynamodbav:"prompt_preview"`
	TextPreview    string   `dynamodbav:"text_preview,omitempty"`
	TextBytes      int      `dynamodbav:"text_bytes,omitempty"`
	Model          string   `dynamodbav:"model"`
	MaxTokens      int      `dynamodbav:"max_tokens"`
	Temperature    *float64 `dynamodbav:"temperature,omitempty"`
	Effort         string   `dynamodbav:"effort,omitempty"`
	InputTokens    int      `dynamodbav:"input_tokens"`
	OutputTokens   int      `dynamodbav:"output_tokens"`
	CacheRead      int      `dynamodbav:"cache_read_tokens,omitempty"`
	CacheWrite     int      `dynamodbav:"cache_write_tokens,omitempty"`
	Continuations  int      `dynamodbav:"continuations,omitempty"`
	StopReason     string   `dynamodbav:"stop_reason,omitempty"`
	FailureCode    string   `dynamodbav:"failure_code,omitempty"`
	FailureMessage string   `dynamodbav:"failure_message,omitempty"`
	// Attempts is always written (no omitempty): the claim's update adds
	// to it, and DynamoDB arithmetic on a missing attribute fails.
	Attempts       int    `dynamodbav:"attempts"`
	LeaseUntil     int64  `dynamodbav:"lease_until,omitempty"`
	WatchedUntil   int64  `dynamodbav:"watched_until,omitempty"` // epoch ms (watch.go)
	TextDueAt      int64  `dynamodbav:"text_due_at,omitempty"`   // epoch ms (jobs.Job.TextDueAt)
	IdempotencyKey string `dynamodbav:"idempotency_key,omitempty"`
	CreatedAt      string `dynamodbav:"created_at"`
	UpdatedAt      string `dynamodbav:"updated_at"`
	SentAt         string `dynamodbav:"sent_at,omitempty"`
	// Waiting is why a queued job a worker gave back waits (jobs.Wait),
	// written with sent_at, removed by the next claim or requeue.
	Waiting    *waitingItem `dynamodbav:"waiting,omitempty"`
	StartedAt  string       `dynamodbav:"started_at,omitempty"`
	FinishedAt string       `dynamodbav:"finished_at,omitempty"`
	ExpiresAt  int64        `dynamodbav:"expires_at"`
	// WriteToken is a random value each write sets, so that a write which
	// finds its condition failed can tell whether the item is already as
	// it left it: its own earlier attempt, retried by the SDK after the
	// answer was lost.
	WriteToken string `dynamodbav:"write_token,omitempty"`
	// ActiveOwner is the owner while the job is queued or running and
	// absent otherwise, which puts exactly the active jobs in activeIndex.
	ActiveOwner string `dynamodbav:"active_owner,omitempty"`
	// The job's budget (jobs.Budget; budget.go moves it with the
	// counters).
	BudgetDay      string `dynamodbav:"budget_day,omitempty"`
	Reserved       int    `dynamodbav:"reserved,omitempty"`
	Charged        int    `dynamodbav:"charged,omitempty"`
	ChargedIn      int    `dynamodbav:"charged_in,omitempty"` // Charged by kind (jobs.Budget.ChargedTokens)
	ChargedOut     int    `dynamodbav:"charged_out,omitempty"`
	ChargedCR      int    `dynamodbav:"charged_cache_read,omitempty"`
	ChargedCW      int    `dynamodbav:"charged_cache_write,omitempty"`
	ChargedAttempt int    `dynamodbav:"charged_attempt,omitempty"`
	Settled        bool   `dynamodbav:"settled,omitempty"`
	BudgetStack    bool   `dynamodbav:"budget_stack,omitempty"`
	// An economy job's run, once it is in one (economy.go), and whether
	// a record Bedrock fails goes to the bulk lane.
	RunID           string `dynamodbav:"run_id,omitempty"`
	EconomyFallback bool   `dynamodbav:"economy_fallback,omitempty"`
	// Continues is the job whose answer this one goes on with
	// (jobs.Job.ContinuesFrom).
	Continues string `dynamodbav:"continues,omitempty"`
	SeedBytes int    `dynamodbav:"seed_bytes,omitempty"`
}

// waitingItem is a jobs.Wait as the job item keeps it (without its after,
// which sent_at says).
type waitingItem struct {
	Reason string `dynamodbav:"reason"`
	Try    int    `dynamodbav:"try,omitempty"`
	Tries  int    `dynamodbav:"tries,omitempty"`
	Error  string `dynamodbav:"error,omitempty"`
}

func waitingItemOf(w *jobs.Wait) *waitingItem {
	if w == nil {
		return nil
	}
	return &waitingItem{Reason: string(w.Reason), Try: w.Try, Tries: w.Tries, Error: w.Error}
}

func (w *waitingItem) wait() *jobs.Wait {
	if w == nil {
		return nil
	}
	return &jobs.Wait{Reason: jobs.WaitReason(w.Reason), Try: w.Try, Tries: w.Tries, Error: w.Error}
}

// waitValue is w as an update's value: the map waitingItem marshals to.
func waitValue(w jobs.Wait) (types.AttributeValue, error) {
	return attributevalue.Marshal(waitingItemOf(w.Kept()))
}

// idemRecord maps an owner's Idempotency-Key to the job it created.
type idemRecord struct {
	jobstable.Key
	JobID       string `dynamodbav:"job_id"`
	Fingerprint string `dynamodbav:"fingerprint"`
	ExpiresAt   int64  `dynamodbav:"expires_at"`
}

func userPK(owner string) string        { return userPrefix + owner }
func jobSK(id string) string            { return jobPrefix + id }
func idemSK(key string) string          { return idemPrefix + key }
func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(n)}
}

// keyOf is the key pk, sk as an item's attributes. Not inlined: one copy
// serves all its callers, where inlining it in each would grow the
// Lambdas' binaries by kilobytes (of code and inlining tables).
//
//go:noinline
func keyOf(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk)}
}

func jobKey(owner, id string) map[string]types.AttributeValue {
	return keyOf(userPK(owner), jobSK(id))
}

func idemKey(owner, key string) map[string]types.AttributeValue {
	return keyOf(userPK(owner), idemSK(key))
}

// formatTime stores t in UTC, or "" for the zero time (which omitempty
// then leaves out).
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func toItem(j jobs.Job) item {
	it := item{
		Key:            jobstable.Key{PK: userPK(j.Owner), SK: jobSK(j.ID)},
		ID:             j.ID,
		Owner:          j.Owner,
		Status:         string(j.Status),
		Lane:           string(j.Lane.OrDefault()),
		PromptPreview:  jobs.Preview(j.Prompt),
		TextBytes:      len(j.GeneratedText),
		Model:          j.Model,
		MaxTokens:      j.MaxTokens,
		Temperature:    j.Temperature,
		Effort:         j.Effort,
		InputTokens:    j.Tokens.Input,
		OutputTokens:   j.Tokens.Output,
		CacheRead:      j.Tokens.CacheRead,
		CacheWrite:     j.Tokens.CacheWrite,
		Continuations:  j.Continuations,
		StopReason:     j.StopReason,
		Attempts:       j.Attempts,
		LeaseUntil:     millis(j.LeaseUntil),
		WatchedUntil:   millis(j.WatchedUntil),
		TextDueAt:      millis(j.TextDueAt),
		IdempotencyKey: j.IdempotencyKey,
		CreatedAt:      formatTime(j.CreatedAt),
		UpdatedAt:      formatTime(j.UpdatedAt),
		SentAt:         formatTime(j.SentAt),
		Waiting:        waitingItemOf(j.Waiting),
		StartedAt:      formatTime(j.StartedAt),
		FinishedAt:     formatTime(j.FinishedAt),
		ExpiresAt:      j.ExpiresAt.Unix(),
		BudgetDay:      j.Budget.Day,
		Reserved:       j.Budget.Reserved,
		Charged:        j.Budget.Charged,
		ChargedIn:      j.Budget.ChargedTokens.Input,
		ChargedOut:     j.Budget.ChargedTokens.Output,
		ChargedCR:      j.Budget.ChargedTokens.CacheRead,
		ChargedCW:      j.Budget.ChargedTokens.CacheWrite,
		ChargedAttempt: j.Budget.ChargedAttempt,
		Settled:        j.Budget.Settled,
		BudgetStack:    j.Budget.Stack,

		EconomyFallback: j.EconomyFallback,
		Continues:       j.ContinuesFrom,
		SeedBytes:       j.SeedBytes,
	}
	if j.Status.Terminal() {
		// A job's text is listed once it has ended (jobs.ListPreviewChars).
		it.TextPreview = jobs.Preview(j.GeneratedText)
	}
	if j.Economy != nil {
		it.RunID = j.Economy.RunID
	}
	if !j.Status.Terminal() {
		it.ActiveOwner = j.Owner
	}
	if j.Failure != nil {
		it.FailureCode, it.FailureMessage = j.Failure.Code, j.Failure.Message
	}
	return it
}

// job is the job the item describes, with previews for its prompt and
// text (Store.complete reads them whole).
func (it item) job() (jobs.Job, error) {
	j := jobs.Job{
		ID:             it.ID,
		Owner:          it.Owner,
		Status:         jobs.Status(it.Status),
		Lane:           jobs.Lane(it.Lane).OrDefault(),
		Prompt:         it.PromptPreview,
		Model:          it.Model,
		MaxTokens:      it.MaxTokens,
		Temperature:    it.Temperature,
		Effort:         it.Effort,
		GeneratedText:  it.TextPreview,
		Tokens:         jobs.Tokens{Input: it.InputTokens, Output: it.OutputTokens, CacheRead: it.CacheRead, CacheWrite: it.CacheWrite},
		Continuations:  it.Continuations,
		StopReason:     it.StopReason,
		Attempts:       it.Attempts,
		LeaseUntil:     fromMillis(it.LeaseUntil),
		WatchedUntil:   fromMillis(it.WatchedUntil),
		TextDueAt:      fromMillis(it.TextDueAt),
		IdempotencyKey: it.IdempotencyKey,
		Waiting:        it.Waiting.wait(),
		Budget: jobs.Budget{Day: it.BudgetDay, Reserved: it.Reserved, Charged: it.Charged,
			ChargedTokens:  jobs.Tokens{Input: it.ChargedIn, Output: it.ChargedOut, CacheRead: it.ChargedCR, CacheWrite: it.ChargedCW},
			ChargedAttempt: it.ChargedAttempt, Settled: it.Settled, Stack: it.BudgetStack},
	}
	if it.ExpiresAt != 0 {
		j.ExpiresAt = time.Unix(it.ExpiresAt, 0).UTC()
	}
	if it.FailureCode != "" || it.FailureMessage != "" {
		j.Failure = &jobs.Failure{Code: it.FailureCode, Message: it.FailureMessage}
	}
	j.EconomyFallback = it.EconomyFallback
	j.ContinuesFrom, j.SeedBytes = it.Continues, it.SeedBytes
	if j.Lane == jobs.LaneEconomy {
		j.Economy = &jobs.Economy{RunID: it.RunID}
	}
	var err error
	for _, f := range []struct {
		dst *time.Time
		src string
	}{
		{&j.CreatedAt, it.CreatedAt},
		{&j.UpdatedAt, it.UpdatedAt},
		{&j.SentAt, it.SentAt},
		{&j.StartedAt, it.StartedAt},
		{&j.FinishedAt, it.FinishedAt},
	} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return jobs.Job{}, fmt.Errorf("job %s: %w", it.ID, err)
		}
	}
	if !j.Status.Valid() {
		return jobs.Job{}, fmt.Errorf("job %s: unknown status %q", it.ID, it.Status)
	}
	if !j.Lane.Valid() {
		return jobs.Job{}, fmt.Errorf("job %s: unknown lane %q", it.ID, it.Lane)
	}
	return j, nil
}

// decodeJob turns a stored item into a job.
func decodeJob(av map[string]types.AttributeValue) (jobs.Job, error) {
	it, err := decodeItem(av)
	if err != nil {
		return jobs.Job{}, err
	}
	return it.job()
}

func decodeItem(av map[string]types.AttributeValue) (item, error) {
	var it item
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return item{}, fmt.Errorf("decode job item: %w", err)
	}
	return it, nil
}

// newWriteToken returns a fresh WriteToken.
func newWriteToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return base64.RawURLEncoding.EncodeToString(b)
}
