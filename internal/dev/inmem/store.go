package inmem

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// Options tune a Store. Zero fields take the defaults documented on each.
type Options struct {
	// JobTTL sets a new job's ExpiresAt. Default jobs.DefaultJobTTL.
	// Nothing is deleted when it passes.
	JobTTL time.Duration
	// IdempotencyTTL is how long an Idempotency-Key keeps returning its
	// job. Default jobs.IdempotencyTTL.
	IdempotencyTTL time.Duration
	// Now is the clock. Default time.Now; tests move time with it.
	Now func() time.Time
}

// Store keeps jobs in maps behind one mutex. It is safe for concurrent use.
// The zero value is not usable; call NewStore.
type Store struct {
	opts Options

	mu   sync.Mutex
	jobs map[string]map[string]jobs.Job // owner → id → job
	idem map[idemKey]idemRecord
	// Budget counters (budget.go).
	days   map[dayKey]*dayCounter
	active map[string]*int
}

type idemKey struct{ owner, key string }

type idemRecord struct {
	jobID       string
	fingerprint string
	expiresAt   time.Time
}

// NewStore returns an empty store.
func NewStore(opts Options) *Store {
	if opts.JobTTL <= 0 {
		opts.JobTTL = jobs.DefaultJobTTL
	}
	if opts.IdempotencyTTL <= 0 {
		opts.IdempotencyTTL = jobs.IdempotencyTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{opts: opts, jobs: map[string]map[string]jobs.Job{}, idem: map[idemKey]idemRecord{}}
}

// now is the clock in UTC without a monotonic reading, as a time that has
// been through DynamoDB would be.
func (s *Store) now() time.Time { return s.opts.Now().UTC() }

// Create stores job as queued; see dynamo.Store.Create for the rules,
// which are the same.
func (s *Store) Create(_ context.Context, job jobs.Job, fingerprint string) (jobs.Job, bool, error) {
	if job.Owner == "" || job.ID == "" {
		return jobs.Job{}, false, fmt.Errorf("create job: owner and id are required")
	}
	now := s.now()
	job = clone(job).AsNew(now, s.opts.JobTTL)

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[job.Owner][job.ID]; ok {
		return jobs.Job{}, false, fmt.Errorf("create job %s: a job with this id exists: %w", job.ID, jobs.ErrConflict)
	}
	if job.IdempotencyKey != "" {
		k := idemKey{job.Owner, job.IdempotencyKey}
		// An expired record counts as absent, as in DynamoDB, where TTL
		// deletes it late; like there, expiry is in whole seconds.
		if rec, ok := s.idem[k]; ok && rec.expiresAt.Unix() >= now.Unix() {
			if rec.fingerprint != fingerprint {
				return jobs.Job{}, false, fmt.Errorf("create job %s: %w", job.ID, jobs.ErrIdempotencyMismatch)
			}
			orig, ok := s.jobs[job.Owner][rec.jobID]
			if !ok {
				return jobs.Job{}, false, fmt.Errorf("create job %s: idempotency key's job %s: %w", job.ID, rec.jobID, jobs.ErrNotFound)
			}
			return clone(orig), false, nil
		}
		s.idem[k] = idemRecord{jobID: job.ID, fingerprint: fingerprint, expiresAt: now.Add(s.opts.IdempotencyTTL)}
	}
	if s.jobs[job.Owner] == nil {
		s.jobs[job.Owner] = map[string]jobs.Job{}
	}
	s.jobs[job.Owner][job.ID] = clone(job)
	return job, true, nil
}

// clone copies j so that neither the caller nor the store sees the other's
// later changes through its pointer fields.
func clone(j jobs.Job) jobs.Job {
	if j.Temperature != nil {
		t := *j.Temperature
		j.Temperature = &t
	}
	if j.Failure != nil {
		f := *j.Failure
		j.Failure = &f
	}
	if j.Economy != nil {
		e := *j.Economy
		j.Economy = &e
	}
	if j.Waiting != nil {
		w := *j.Waiting
		j.Waiting = &w
	}
	return j
}

// Get returns the owner's job id, or an error matching jobs.ErrNotFound.
func (s *Store) Get(_ context.Context, owner, id string) (jobs.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[owner][id]
	if !ok {
		return jobs.Job{}, fmt.Errorf("get job %s: %w", id, jobs.ErrNotFound)
	}
	return clone(j), nil
}

// Head is the owner's job with the previews of its prompt and text
// (jobs.Preview) and no system prompt, as dynamo.Store.Head reads it.
func (s *Store) Head(ctx context.Context, owner, id string) (jobs.Job, error) {
	j, err := s.Get(ctx, owner, id)
	if err != nil {
		return jobs.Job{}, err
	}
	j.Prompt, j.GeneratedText, j.System = jobs.Preview(j.Prompt), jobs.Preview(j.GeneratedText), ""
	j.ResponseFormat = nil // kept with the prompt, as dynamo keeps it
	return j, nil
}

// Watch marks the owner's job watched until until, as dynamo.Store.Watch:
// only a job not yet ended, never for less time than it is already.
func (s *Store) Watch(_ context.Context, owner, id string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[owner][id]
	if ok && !j.Status.Terminal() && j.WatchedUntil.Before(until) {
		j.WatchedUntil = until
		s.jobs[owner][id] = j
	}
	return nil
}

// SentBack records that the owner's queued job's message was sent back to
// come back after `after` (see dynamo.Store.SentBack).
func (s *Store) SentBack(_ context.Context, owner, id string, w jobs.Wait) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.jobs[owner][id]; ok && j.Status == jobs.StatusQueued {
		j.SentAt, j.Waiting = s.now().Add(w.After), w.Kept()
		s.jobs[owner][id] = j
	}
	return nil
}

// WatchedUntil is when the owner's job stops counting as watched.
func (s *Store) WatchedUntil(_ context.Context, owner, id string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[owner][id]
	if !ok {
		return time.Time{}, fmt.Errorf("read job %s's watch: %w", id, jobs.ErrNotFound)
	}
	return j.WatchedUntil, nil
}

// Stale yields the jobs that have shown no sign of life since before
// (jobs.Job.StaleSince), with the fields dynamo.Store.Stale sets. It reads
// a snapshot taken when iteration starts.
func (s *Store) Stale(_ context.Context, before time.Time) iter.Seq2[jobs.Job, error] {
	return func(yield func(jobs.Job, error) bool) {
		s.mu.Lock()
		var stale []jobs.Job
		for _, byID := range s.jobs {
			for _, j := range byID {
				if j.StaleSince(before) {
					stale = append(stale, jobs.Job{ID: j.ID, Owner: j.Owner, Status: j.Status, Lane: j.Lane,
						Attempts: j.Attempts, UpdatedAt: j.UpdatedAt, LeaseUntil: j.LeaseUntil})
				}
			}
		}
		s.mu.Unlock()
		for _, j := range stale {
			if !yield(j, nil) {
				return
			}
		}
	}
}

// List returns one page of the owner's jobs, newest first, with the same
// cursor rules as dynamo.Store.List.
func (s *Store) List(_ context.Context, owner string, limit int, cursor string) (jobs.Page, error) {
	return s.list(owner, limit, cursor, nil)
}

// Search returns the owner's jobs whose search terms hold every one of
// words, newest first, as dynamo.Store.Search: the terms of the prompt and
// system prompt, and of the answer of a succeeded job (or the text a
// continuation started with), all in one page (nothing is paid per item
// read here, so no page stops early).
func (s *Store) Search(_ context.Context, owner string, words []string, limit int, cursor string) (jobs.Page, error) {
	if len(words) == 0 {
		return jobs.Page{}, jobs.Invalid("q", "q must have a word to look for.")
	}
	return s.list(owner, limit, cursor, func(j jobs.Job) bool {
		answer := j.GeneratedText[:j.SeedBytes]
		if j.Status == jobs.StatusSucceeded {
			answer = j.GeneratedText
		}
		return jobs.TermsMatch(words, jobs.SearchTerms(jobs.PromptTermsBytes, j.Prompt, j.System),
			jobs.SearchTerms(jobs.AnswerTermsBytes, answer))
	})
}

// list is a page of the owner's jobs that match (all when match is nil).
func (s *Store) list(owner string, limit int, cursor string, match func(jobs.Job) bool) (jobs.Page, error) {
	if limit < 1 {
		return jobs.Page{}, jobs.Invalid("limit", "limit must be at least 1.")
	}
	var after string
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !jobs.ValidID(string(b)) {
			return jobs.Page{}, jobs.Invalid("cursor", "cursor is not one this API returned.")
		}
		after = string(b)
	}

	s.mu.Lock()
	all := make([]jobs.Job, 0, len(s.jobs[owner]))
	for _, j := range s.jobs[owner] {
		if (after == "" || j.ID < after) && (match == nil || match(j)) {
			j := clone(j)
			j.Prompt, j.System, j.GeneratedText = jobs.Preview(j.Prompt), "", jobs.Preview(j.GeneratedText)
			j.ResponseFormat = nil
			if !j.Status.Terminal() {
				j.GeneratedText = "" // see jobs.ListPreviewChars
			}
			all = append(all, j)
		}
	}
	s.mu.Unlock()

	slices.SortFunc(all, func(a, b jobs.Job) int { return cmp.Compare(b.ID, a.ID) })
	page := jobs.Page{Jobs: all[:min(limit, len(all))]}
	if len(all) > limit {
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(page.Jobs[limit-1].ID))
	}
	return page, nil
}

// transition applies t to the owner's job id, by a caller holding attempt
// (Held rules only), if its rule in jobs.Rules allows the job's current
// state: it sets the rule's status and runs change for the rest, all under
// the lock, and returns the job after. A refused change gives the job as it
// is and an error matching jobs.ErrConflict; a missing job
// jobs.ErrNotFound.
func (s *Store) transition(owner, id string, t jobs.Transition, attempt int, change func(j *jobs.Job, now time.Time)) (jobs.Job, error) {
	rule, ok := jobs.Rules[t]
	if !ok {
		panic(fmt.Sprintf("inmem: no rule for transition %q", t))
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[owner][id]
	if !ok {
		return jobs.Job{}, jobs.ErrNotFound
	}
	if !rule.Allows(j, now, attempt) {
		return clone(j), fmt.Errorf("job is %s at attempt %d: %w", j.Status, j.Attempts, jobs.ErrConflict)
	}
	was, settles := j.Status, rule.Settles(j)
	if rule.To != "" {
		j.Status = rule.To
	}
	change(&j, now)
	j.UpdatedAt = now
	s.settle(was, settles, &j)
	s.jobs[owner][id] = j
	return clone(j), nil
}

func leaseUntil(now time.Time, lease time.Duration) time.Time {
	return now.Add(lease).Truncate(time.Millisecond)
}

// Cancel moves a queued or running job to cancelled.
func (s *Store) Cancel(_ context.Context, owner, id string) (jobs.Job, error) {
	j, err := s.transition(owner, id, jobs.Cancel, 0, func(j *jobs.Job, now time.Time) {
		j.FinishedAt = now
		j.LeaseUntil = time.Time{}
	})
	if err != nil {
		return jobs.Job{}, fmt.Errorf("cancel job %s: %w", id, err)
	}
	return j, nil
}

// AbandonEnqueue fails a queued job that could not be queued and, in the
// same step, frees its idempotency key if the key still points at it.
func (s *Store) AbandonEnqueue(_ context.Context, owner, id string, f jobs.Failure) error {
	_, err := s.transition(owner, id, jobs.AbandonEnqueue, 0, func(j *jobs.Job, now time.Time) {
		j.Failure = &f
		j.FinishedAt = now
		// transition holds s.mu while it calls this.
		k := idemKey{owner, j.IdempotencyKey}
		if rec, ok := s.idem[k]; ok && rec.jobID == id {
			delete(s.idem, k)
		}
	})
	if err != nil {
		return fmt.Errorf("abandon enqueue of job %s: %w", id, err)
	}
	return nil
}

// SwapSentAt moves a queued job's SentAt from old to new (see
// dynamo.Store.SwapSentAt). Like there, it leaves UpdatedAt alone.
func (s *Store) SwapSentAt(_ context.Context, owner, id string, old, new time.Time) (jobs.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[owner][id]
	if !ok {
		return jobs.Job{}, fmt.Errorf("swap sent_at of job %s: %w", id, jobs.ErrNotFound)
	}
	if !jobs.Rules[jobs.SwapSentAt].Allows(j, s.now(), 0) || !j.SentAt.Equal(old) {
		return clone(j), fmt.Errorf("swap sent_at of job %s: job is %s, sent at %s: %w", id, j.Status, j.SentAt, jobs.ErrConflict)
	}
	j.SentAt = new.UTC()
	s.jobs[owner][id] = j
	return clone(j), nil
}

// Claim takes a queued job, or a running one whose lease has lapsed.
func (s *Store) Claim(_ context.Context, owner, id string, lease time.Duration) (jobs.Job, error) {
	j, err := s.transition(owner, id, jobs.Claim, 0, func(j *jobs.Job, now time.Time) {
		j.Attempts++
		j.LeaseUntil = leaseUntil(now, lease)
		j.StartedAt = now
		j.SentAt = now
		j.Waiting = nil
	})
	if err != nil {
		return j, fmt.Errorf("claim job %s: %w", id, err)
	}
	return j, nil
}

// SaveProgress writes partial text to the job claimed as attempt and
// extends its lease.
func (s *Store) SaveProgress(_ context.Context, owner, id string, attempt int, p jobs.Progress, lease time.Duration) error {
	_, err := s.transition(owner, id, jobs.SaveProgress, attempt, func(j *jobs.Job, now time.Time) {
		j.GeneratedText, j.Tokens, j.Continuations = p.GeneratedText, p.Tokens, p.Continuations
		j.LeaseUntil = leaseUntil(now, lease)
		if !p.TextDueAt.IsZero() {
			j.TextDueAt = p.TextDueAt
		}
	})
	if err != nil {
		return fmt.Errorf("save progress of job %s attempt %d: %w", id, attempt, err)
	}
	return nil
}

// Finish marks the job claimed as attempt succeeded, charging the attempt
// p.Charge with its settlement (see dynamo.Store.Finish).
func (s *Store) Finish(_ context.Context, owner, id string, attempt int, p jobs.Progress) error {
	_, err := s.transition(owner, id, jobs.Finish, attempt, func(j *jobs.Job, now time.Time) {
		if bt, key := j.BudgetTokens(p.Charge); bt.Total() > 0 {
			s.chargeLocked(j, attempt, bt, key, p.Charge) // before transition settles it
		}
		j.GeneratedText, j.Tokens, j.StopReason, j.Continuations = p.GeneratedText, p.Tokens, p.StopReason, p.Continuations
		j.FinishedAt = now
		j.LeaseUntil = time.Time{}
	})
	if err != nil {
		return fmt.Errorf("finish job %s attempt %d: %w", id, attempt, err)
	}
	return nil
}

// Fail marks the job claimed as attempt failed; its partial text stays.
func (s *Store) Fail(_ context.Context, owner, id string, attempt int, f jobs.Failure) error {
	_, err := s.transition(owner, id, jobs.Fail, attempt, func(j *jobs.Job, now time.Time) {
		j.Failure = &f
		j.FinishedAt = now
		j.LeaseUntil = time.Time{}
	})
	if err != nil {
		return fmt.Errorf("fail job %s attempt %d: %w", id, attempt, err)
	}
	return nil
}

// Release queues the job claimed as attempt again, keeping its text and
// token counts for the next attempt to continue; its message comes back
// after `after` (see dynamo.Store.Release).
func (s *Store) Release(_ context.Context, owner, id string, attempt int, w jobs.Wait) error {
	_, err := s.transition(owner, id, jobs.Release, attempt, func(j *jobs.Job, now time.Time) {
		j.StopReason = ""
		j.LeaseUntil, j.StartedAt = time.Time{}, time.Time{}
		j.SentAt, j.Waiting = now.Add(w.After), w.Kept()
	})
	if err != nil {
		return fmt.Errorf("release job %s attempt %d: %w", id, attempt, err)
	}
	return nil
}

// Requeue queues a failed or queued job, or a running one whose lease has
// lapsed, clearing the last attempt's failure, lease and result.
func (s *Store) Requeue(_ context.Context, owner, id string) (jobs.Job, error) {
	j, err := s.transition(owner, id, jobs.Requeue, 0, func(j *jobs.Job, now time.Time) {
		j.SentAt, j.Waiting = now, nil
		j.Failure = nil
		j.GeneratedText, j.Tokens, j.StopReason, j.Continuations = j.GeneratedText[:j.SeedBytes], jobs.Tokens{}, "", 0
		j.LeaseUntil, j.StartedAt, j.FinishedAt = time.Time{}, time.Time{}, time.Time{}
	})
	if err != nil {
		return jobs.Job{}, fmt.Errorf("requeue job %s: %w", id, err)
	}
	return j, nil
}

// MarkFailed fails a queued or failed job, or a running one whose lease
// has lapsed; a job running under a live lease is left to its worker (see
// dynamo.Store.MarkFailed).
func (s *Store) MarkFailed(_ context.Context, owner, id string, f jobs.Failure) error {
	_, err := s.transition(owner, id, jobs.MarkFailed, 0, func(j *jobs.Job, now time.Time) {
		j.Failure = &f
		j.FinishedAt = now
		j.LeaseUntil = time.Time{}
	})
	if err != nil {
		return fmt.Errorf("mark job %s failed: %w", id, err)
	}
	return nil
}

// CreateMany is Create for each entry, in order: in memory there are no
// round trips to save.
func (s *Store) CreateMany(ctx context.Context, items []jobs.NewJob) []jobs.CreateResult {
	out := make([]jobs.CreateResult, len(items))
	for i, it := range items {
		job, created, err := s.Create(ctx, it.Job, it.Fingerprint)
		out[i] = jobs.CreateResult{Job: job, Created: created, Err: err}
	}
	return out
}
