package loadtest

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// JobRecord is a job item as the table holds it.
type JobRecord struct {
	Owner       string `dynamodbav:"owner"`
	ID          string `dynamodbav:"job_id"`
	Key         string `dynamodbav:"idempotency_key"`
	Status      string `dynamodbav:"status"`
	Attempts    int    `dynamodbav:"attempts"`
	FailureCode string `dynamodbav:"failure_code"`

	Lane         string `dynamodbav:"lane"`
	InputTokens  int    `dynamodbav:"input_tokens"`
	OutputTokens int    `dynamodbav:"output_tokens"`
	// RFC 3339 times, as the store writes them; "" until they happen.
	CreatedAt  string `dynamodbav:"created_at"`
	StartedAt  string `dynamodbav:"started_at"`
	FinishedAt string `dynamodbav:"finished_at"`
}

// Times are the record's created_at, started_at and finished_at; zero
// for one that is absent or unreadable.
func (r JobRecord) Times() (created, started, finished time.Time) {
	parse := func(s string) time.Time {
		t, _ := time.Parse(time.RFC3339Nano, s)
		return t
	}
	return parse(r.CreatedAt), parse(r.StartedAt), parse(r.FinishedAt)
}

// ReadJobs reads every job item of users from table (a consistent Query of
// each user's partition), by owner.
func ReadJobs(ctx context.Context, db *dynamodb.Client, table string, users []User) (map[string][]JobRecord, error) {
	out := map[string][]JobRecord{}
	for _, u := range users {
		p := dynamodb.NewQueryPaginator(db, &dynamodb.QueryInput{
			TableName:              aws.String(table),
			KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :job)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk":  &types.AttributeValueMemberS{Value: jobstable.UserKey(u.Sub)},
				":job": &types.AttributeValueMemberS{Value: jobstable.JobPrefix},
			},
			ConsistentRead: aws.Bool(true),
		})
		recs := []JobRecord{}
		for p.HasMorePages() {
			// kumo now and then answers a Query that races a write to the
			// same partition with a cut-off body (docs/reliability.md): a
			// failed page is asked for again, as the paginator allows.
			var page *dynamodb.QueryOutput
			var err error
			for range 3 {
				if page, err = p.NextPage(ctx); err == nil {
					break
				}
			}
			if err != nil {
				return nil, fmt.Errorf("read jobs of %s: %w", u.Email, err)
			}
			var rs []JobRecord
			if err := attributevalue.UnmarshalListOfMaps(page.Items, &rs); err != nil {
				return nil, fmt.Errorf("read jobs of %s: %w", u.Email, err)
			}
			recs = append(recs, rs...)
		}
		out[u.Sub] = recs
	}
	return out, nil
}

// Report is what [Check] found.
type Report struct {
	Users       int
	Submitted   int         // distinct keys submitted
	Accepted    int         // keys the API answered 202
	NotAccepted map[int]int // the others, by their last status (0: no answer)
	JobItems    int         // job items of the users in the table
	ByStatus    map[string]int
	FailedBy    map[string]int // failed jobs by failure code

	Lost        []string // accepted job ids with no item: lost
	NotTerminal []string // accepted jobs whose item is not terminal
	// Duplicates are keys with more than one job item; Orphans are job
	// items whose key no 202 named (a submission whose answer was lost).
	Duplicates []string
	Orphans    []string
	// ReplayErrors are replays answered with another job, without
	// Idempotent-Replayed, or not at all.
	Replays      int
	ReplayErrors []string
	// UsersOff are users whose job items are not one per accepted key.
	UsersOff []string

	Attempts map[int]int // jobs by attempts recorded on the job
	// With model calls: jobs by calls, and the jobs whose calls differ
	// from their attempts (key: calls vs attempts).
	ModelCalls     map[int]int
	CallsMismatch  []string
	ModelCallTotal int
}

// OK reports whether every accepted job is in the table once, terminal,
// and (when calls were given) called as many times as it was attempted.
func (r Report) OK() bool {
	return len(r.Lost) == 0 && len(r.NotTerminal) == 0 && len(r.Duplicates) == 0 &&
		len(r.ReplayErrors) == 0 && len(r.UsersOff) == 0 && len(r.CallsMismatch) == 0
}

// Check compares what the clients were told (o) with the table (table, from
// ReadJobs) and, if calls is not nil, with the model's calls per key.
func Check(o *Outcome, users []User, table map[string][]JobRecord, calls map[string]int) Report {
	r := Report{
		Users:       len(users),
		NotAccepted: map[int]int{},
		ByStatus:    map[string]int{},
		FailedBy:    map[string]int{},
		Attempts:    map[int]int{},
	}
	byID := map[string]JobRecord{}
	byKey := map[string][]JobRecord{}
	for _, recs := range table {
		for _, j := range recs {
			r.JobItems++
			byID[j.ID] = j
			byKey[j.Key] = append(byKey[j.Key], j)
		}
	}
	acceptedKeys := map[string]bool{}
	perUser := map[int]int{}
	for _, s := range o.Submissions {
		r.Submitted++
		id, ok := s.accepted()
		if !ok {
			r.NotAccepted[s.Status]++
			continue
		}
		r.Accepted++
		acceptedKeys[s.Key] = true
		perUser[s.User]++
		if s.Replayed {
			r.Replays++
			if s.ReplayJobID != id || !s.ReplayFlag || s.ReplayErr != "" {
				r.ReplayErrors = append(r.ReplayErrors, fmt.Sprintf("%s: first %s, replay %q replayed=%v %s", s.Key, id, s.ReplayJobID, s.ReplayFlag, s.ReplayErr))
			}
		}
		j, found := byID[id]
		if !found {
			r.Lost = append(r.Lost, s.Key+" "+id)
			continue
		}
		r.ByStatus[j.Status]++
		if j.Status == "failed" {
			r.FailedBy[j.FailureCode]++
		}
		if !jobs.Status(j.Status).Terminal() {
			r.NotTerminal = append(r.NotTerminal, fmt.Sprintf("%s %s %s", s.Key, id, j.Status))
		}
		r.Attempts[j.Attempts]++
	}
	for key, recs := range byKey {
		if len(recs) > 1 {
			r.Duplicates = append(r.Duplicates, fmt.Sprintf("%s: %d jobs", key, len(recs)))
		}
		if !acceptedKeys[key] {
			for _, j := range recs {
				r.Orphans = append(r.Orphans, fmt.Sprintf("%s %s %s", key, j.ID, j.Status))
			}
		}
	}
	for u, user := range users {
		if got := len(table[user.Sub]); got != perUser[u] {
			r.UsersOff = append(r.UsersOff, fmt.Sprintf("%s: %d job items, %d accepted keys", user.Email, got, perUser[u]))
		}
	}
	if calls != nil {
		r.ModelCalls = map[int]int{}
		for _, s := range o.Submissions {
			id, ok := s.accepted()
			if !ok {
				continue
			}
			n := calls[s.Key]
			r.ModelCalls[n]++
			r.ModelCallTotal += n
			if j, found := byID[id]; found && n != j.Attempts {
				r.CallsMismatch = append(r.CallsMismatch, fmt.Sprintf("%s: %d calls, %d attempts (%s)", s.Key, n, j.Attempts, j.Status))
			}
		}
	}
	for _, l := range [][]string{r.Lost, r.NotTerminal, r.Duplicates, r.Orphans, r.ReplayErrors, r.UsersOff, r.CallsMismatch} {
		slices.Sort(l)
	}
	return r
}

// Write prints the report.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "users %d, keys submitted %d, accepted (202) %d, not accepted %d %s\n",
		r.Users, r.Submitted, r.Accepted, r.Submitted-r.Accepted, statusMap(r.NotAccepted))
	fmt.Fprintf(w, "job items in the table %d; accepted jobs by status: %s", r.JobItems, countMap(r.ByStatus))
	if len(r.FailedBy) > 0 {
		fmt.Fprintf(w, " (failed by code: %s)", countMap(r.FailedBy))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "jobs by attempts: %s\n", intMap(r.Attempts))
	if r.ModelCalls != nil {
		fmt.Fprintf(w, "jobs by model calls: %s (%d calls)\n", intMap(r.ModelCalls), r.ModelCallTotal)
	}
	fmt.Fprintf(w, "replays with the same key %d, answered with another job or no replay flag %d\n", r.Replays, len(r.ReplayErrors))
	fmt.Fprintf(w, "lost %d, not terminal %d, duplicated keys %d, items no 202 named %d, users off %d, calls != attempts %d\n",
		len(r.Lost), len(r.NotTerminal), len(r.Duplicates), len(r.Orphans), len(r.UsersOff), len(r.CallsMismatch))
	for _, l := range []struct {
		name  string
		items []string
	}{{"lost", r.Lost}, {"not terminal", r.NotTerminal}, {"duplicated", r.Duplicates}, {"no 202", r.Orphans},
		{"replay", r.ReplayErrors}, {"user", r.UsersOff}, {"calls", r.CallsMismatch}} {
		for i, it := range l.items {
			if i == 10 {
				fmt.Fprintf(w, "  %s: ... %d more\n", l.name, len(l.items)-10)
				break
			}
			fmt.Fprintf(w, "  %s: %s\n", l.name, it)
		}
	}
}

func countMap(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func intMap(m map[int]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d: %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func statusMap(m map[int]int) string {
	if len(m) == 0 {
		return ""
	}
	return "(" + StatusString(m) + ")"
}
