package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// Store is the method set the suite exercises: what the API, the worker
// and the operator tools use of a job store.
type Store interface {
	Create(ctx context.Context, job jobs.Job, fingerprint string) (jobs.Job, bool, error)
	Get(ctx context.Context, owner, id string) (jobs.Job, error)
	Head(ctx context.Context, owner, id string) (jobs.Job, error)
	List(ctx context.Context, owner string, limit int, cursor string) (jobs.Page, error)
	Search(ctx context.Context, owner string, words []string, limit int, cursor string) (jobs.Page, error)
	Cancel(ctx context.Context, owner, id string) (jobs.Job, error)
	AbandonEnqueue(ctx context.Context, owner, id string, f jobs.Failure) error
	CreateMany(ctx context.Context, items []jobs.NewJob) []jobs.CreateResult
	SwapSentAt(ctx context.Context, owner, id string, old, new time.Time) (jobs.Job, error)

	Claim(ctx context.Context, owner, id string, lease time.Duration) (jobs.Job, error)
	SaveProgress(ctx context.Context, owner, id string, attempt int, p jobs.Progress, lease time.Duration) error
	Finish(ctx context.Context, owner, id string, attempt int, p jobs.Progress) error
	Fail(ctx context.Context, owner, id string, attempt int, f jobs.Failure) error
	Release(ctx context.Context, owner, id string, attempt int, w jobs.Wait) error

	Requeue(ctx context.Context, owner, id string) (jobs.Job, error)
	MarkFailed(ctx context.Context, owner, id string, f jobs.Failure) error
	Stale(ctx context.Context, before time.Time) iter.Seq2[jobs.Job, error]

	Reserve(ctx context.Context, owner string, cost jobs.Cost, limits jobs.Budgets) (jobs.Reservation, error)
	Unreserve(ctx context.Context, owner string, r jobs.Reservation) error
	UnreserveUnwritten(ctx context.Context, owner string, js []jobs.Job) error
	Charge(ctx context.Context, j jobs.Job, t jobs.Tokens) error
	Usage(ctx context.Context, owner string) (jobs.Usage, error)

	Watch(ctx context.Context, owner, id string, until time.Time) error
	WatchedUntil(ctx context.Context, owner, id string) (time.Time, error)
	SentBack(ctx context.Context, owner, id string, w jobs.Wait) error
}

// NewStore makes an empty store for one test, whose clock is now (the
// store's Options.Now). It registers any cleanup with t.
type NewStore func(t *testing.T, now func() time.Time) Store

// lease is the claim lease the suite uses. Its length is arbitrary: time
// only moves when a test advances the clock.
const lease = time.Minute

// Run runs the suite against the stores newStore makes.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, NewStore)
	}{
		{"CreateThenGetReturnsTheStoredJob", testCreateAndGet},
		{"GetOfAMissingJobIsNotFound", testGetMissing},
		{"HeadIsTheJobWithPreviews", testHead},
		{"AResponseFormatIsKeptWithThePromptAndHandedToTheClaim", testResponseFormat},
		{"AnotherOwnersJobIsNotFoundForEveryMethod", testOtherOwner},
		{"ListIsNewestFirstAndPagesWithACursor", testList},
		{"ListRejectsAMalformedCursorOrLimit", testListBadCursor},
		{"IdempotencyKeyReturnsTheOriginalJob", testIdempotency},
		{"ConcurrentCreatesWithOneKeyMakeOneJob", testConcurrentCreates},
		{"CancelMovesOnlyQueuedAndRunningJobs", testCancel},
		{"ClaimTakesQueuedJobsOnce", testClaim},
		{"ClaimRetakesARunningJobOnlyAfterItsLeaseLapses", testClaimAfterLease},
		{"AnOldAttemptCannotWriteAfterAReclaim", testFencing},
		{"AnOldAttemptsAppendedTextNeverReachesTheNewClaimants", testStaleAppend},
		{"SaveProgressWritesTextAndExtendsTheLease", testSaveProgress},
		{"SaveProgressOnACancelledJobConflicts", testProgressCancelled},
		{"FinishAndFailEndTheJob", testFinishAndFail},
		{"ReleaseQueuesTheJobKeepingItsTextForTheNextAttempt", testRelease},
		{"AnAnswerLargerThanOneItemIsStoredAndServedWhole", testLargeOutput},
		{"AJobCreatedWithTextStartsWithItForItsClaimToContinue", testSeededCreate},
		{"APollMarksAJobWatchedUntilItEnds", testWatch},
		{"SentBackMovesAQueuedJobsSentAtToWhenItsMessageComesBack", testSentBack},
		{"ListCarriesPreviewsNotWholeTexts", testListPreviews},
		{"SearchFindsEveryWordOfPromptsAndAnswersOfTheOwnersJobs", testSearch},
		{"RequeueReplaysFailedAndAbandonedJobs", testRequeue},
		{"MarkFailedFailsUnfinishedJobsButNotOneUnderALiveLease", testMarkFailed},
		{"AbandonEnqueueFailsTheJobAndFreesItsKey", testAbandonEnqueue},
		{"CreateManyMeansCreateForEachEntry", testCreateMany},
		{"StaleFindsActiveJobsWithNoSignOfLife", testStale},
		{"TheLaneIsKeptAndInteractiveByDefault", testLane},
		{"SentAtMovesWithEverySendAndClaim", testSentAt},
		{"SwapSentAtLetsOneOfManyCallersWin", testSwapSentAt},
		{"ReservationsNeverPassALimitUnderConcurrency", testReserveUnderConcurrency},
		{"TheDaysFirstReservationIsCheckedToo", testReserveTheDaysFirst},
		{"UnreserveNeverGoesBelowZero", testUnreserve},
		{"UnreserveUnwrittenGivesBackOnlyWhatNoStoredJobHolds", testUnreserveUnwritten},
		{"EachAttemptIsChargedOnceAndTheEndReleasesTheRest", testChargeAndSettle},
		{"ChargeCountsPromptCacheTokens", testChargeCountsCacheTokens},
		{"ALongContextCallCountsItsBand", testALongContextCallCountsItsBand},
		{"ChargesBeyondTheReservationAreAllCounted", testChargeBeyondTheReservation},
		{"FinishChargesItsAttemptWithTheSettlementOnce", testFinishCharges},
		{"EveryEndSettlesOnceAndAReplayHoldsAgain", testEveryEndSettlesOnce},
		{"UsageIsPerUser", testUsageIsPerUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore)
		})
	}
}

// Clock is a settable clock for tests, safe for concurrent use. The suite
// starts it at a whole second (coarser than anything a store keeps, such
// as lease_until's milliseconds) so stored times compare equal to the
// clock's; other store tests use it too.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads t until advanced.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one test's store, clock and owner.
type env struct {
	t     *testing.T
	store Store
	clock *Clock
	owner string
}

func setup(t *testing.T, newStore NewStore) *env {
	t.Helper()
	c := NewClock(time.Now().UTC().Truncate(time.Second))
	return &env{t: t, store: newStore(t, c.Now), clock: c, owner: randomOwner()}
}

// randomOwner is a made-up Cognito sub, unique per test, so tests sharing
// one table can never see each other's jobs.
func randomOwner() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "user-" + hex.EncodeToString(b)
}

// job returns a new, unstored job of the env's owner.
func (e *env) job() jobs.Job {
	temp := 0.25
	return jobs.Job{
		ID:          jobs.NewID(),
		Owner:       e.owner,
		Prompt:      "Write a haiku about queues.",
		System:      "Answer briefly.",
		Model:       jobs.DefaultModel,
		MaxTokens:   256,
		Temperature: &temp,
	}
}

// create stores j and fails the test unless it was created.
func (e *env) create(j jobs.Job, fingerprint string) jobs.Job {
	e.t.Helper()
	got, created, err := e.store.Create(e.t.Context(), j, fingerprint)
	if err != nil {
		e.t.Fatalf("Create(%s): %v", j.ID, err)
	}
	if !created {
		e.t.Fatalf("Create(%s): created = false, want true", j.ID)
	}
	return got
}

func (e *env) get(id string) jobs.Job {
	e.t.Helper()
	j, err := e.store.Get(e.t.Context(), e.owner, id)
	if err != nil {
		e.t.Fatalf("Get(%s): %v", id, err)
	}
	return j
}

func (e *env) claim(id string) jobs.Job {
	e.t.Helper()
	j, err := e.store.Claim(e.t.Context(), e.owner, id, lease)
	if err != nil {
		e.t.Fatalf("Claim(%s): %v", id, err)
	}
	return j
}

// inStatus stores a new job and drives it to st through the store's own
// transitions. It returns the job as stored.
func (e *env) inStatus(st jobs.Status) jobs.Job {
	e.t.Helper()
	ctx := e.t.Context()
	j := e.create(e.job(), "fp")
	var err error
	switch st {
	case jobs.StatusQueued:
	case jobs.StatusRunning:
		e.claim(j.ID)
	case jobs.StatusSucceeded:
		c := e.claim(j.ID)
		err = e.store.Finish(ctx, e.owner, j.ID, c.Attempts, jobs.Progress{GeneratedText: "done", StopReason: "end_turn"})
	case jobs.StatusFailed:
		c := e.claim(j.ID)
		err = e.store.Fail(ctx, e.owner, j.ID, c.Attempts, jobs.Failure{Code: jobs.FailureModel, Message: "The model refused."})
	case jobs.StatusCancelled:
		_, err = e.store.Cancel(ctx, e.owner, j.ID)
	default:
		e.t.Fatalf("inStatus(%q): unknown status", st)
	}
	if err != nil {
		e.t.Fatalf("drive job to %s: %v", st, err)
	}
	got := e.get(j.ID)
	if got.Status != st {
		e.t.Fatalf("drove job to %s, but it is %s", st, got.Status)
	}
	return got
}

// wantErr fails the test unless err matches target (errors.Is) and has
// target's kind.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want one matching %v", what, err, target)
	}
	if got, want := jobs.KindOf(err), jobs.KindOf(target); got != want {
		t.Fatalf("%s: kind = %s, want %s", what, got, want)
	}
}

// normalize makes jobs comparable with reflect.DeepEqual: times in UTC
// without monotonic readings.
func normalize(j jobs.Job) jobs.Job {
	for _, p := range []*time.Time{&j.LeaseUntil, &j.CreatedAt, &j.UpdatedAt, &j.SentAt, &j.StartedAt, &j.FinishedAt, &j.ExpiresAt} {
		if p.IsZero() {
			*p = time.Time{}
		} else {
			*p = p.UTC()
		}
	}
	return j
}

func sameJob(t *testing.T, what string, got, want jobs.Job) {
	t.Helper()
	if g, w := normalize(got), normalize(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, show(g), show(w))
	}
}

// show prints a job with pointer fields followed.
func show(j jobs.Job) string {
	temp, failure := "nil", "nil"
	if j.Temperature != nil {
		temp = fmt.Sprint(*j.Temperature)
	}
	if j.Failure != nil {
		failure = fmt.Sprintf("%+v", *j.Failure)
	}
	j.Temperature, j.Failure = nil, nil
	return fmt.Sprintf("%+v Temperature=%s Failure=%s", j, temp, failure)
}

func ids(js []jobs.Job) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}
