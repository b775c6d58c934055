package loadtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/measure/loadtest"
)

// fakeAPI answers POST /generate with idempotency keys (and a 503 to the
// first call of every key ending in j0001), and lists every job as
// succeeded.
type fakeAPI struct {
	mu     sync.Mutex
	byKey  map[string]string   // user/key → job id
	jobs   map[string][]string // user → job ids
	failed map[string]bool
	n      int
}

func newFakeAPI(t *testing.T) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{byKey: map[string]string{}, jobs: map[string][]string{}, failed: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /generate", func(w http.ResponseWriter, r *http.Request) {
		user := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		key := r.Header.Get("Idempotency-Key")
		f.mu.Lock()
		defer f.mu.Unlock()
		if strings.HasSuffix(key, "j0001") && !f.failed[key] {
			f.failed[key] = true
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		id, ok := f.byKey[user+"/"+key]
		if ok {
			w.Header().Set("Idempotent-Replayed", "true")
		} else {
			f.n++
			id = fmt.Sprintf("job-%03d", f.n)
			f.byKey[user+"/"+key] = id
			f.jobs[user] = append(f.jobs[user], id)
		}
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]string{"job_id": id, "status": "queued"})
	})
	mux.HandleFunc("GET /jobs", func(w http.ResponseWriter, r *http.Request) {
		user := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		defer f.mu.Unlock()
		var out struct {
			Jobs []loadtest.JobView `json:"jobs"`
		}
		for _, id := range f.jobs[user] {
			out.Jobs = append(out.Jobs, loadtest.JobView{JobID: id, Status: "succeeded", Attempts: 1})
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("GET /jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(loadtest.JobView{JobID: r.PathValue("id"), Status: "succeeded", Attempts: 1})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

// records is the table the fake would have: one succeeded job per key.
func (f *fakeAPI) records(users []loadtest.User) map[string][]loadtest.JobRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]loadtest.JobRecord{}
	for _, u := range users {
		for uk, id := range f.byKey {
			if user, key, _ := strings.Cut(uk, "/"); user == u.Token {
				out[u.Sub] = append(out[u.Sub], loadtest.JobRecord{Owner: u.Sub, ID: id, Key: key, Status: "succeeded", Attempts: 1})
			}
		}
	}
	return out
}

func users(n int) []loadtest.User {
	var us []loadtest.User
	for i := range n {
		us = append(us, loadtest.User{Email: fmt.Sprintf("u%d@example.com", i), Sub: fmt.Sprintf("sub-%d", i), Token: fmt.Sprintf("token-%d", i)})
	}
	return us
}

func TestRunSubmitsRetriesReplaysAndWaitsForEveryJob(t *testing.T) {
	t.Parallel()
	for _, mode := range []loadtest.PollMode{loadtest.PollList, loadtest.PollEach, loadtest.PollRetryAfter} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			t.Parallel()
			f, srv := newFakeAPI(t)
			us := users(3)
			c := loadtest.NewClient(srv.URL, 8)
			o, err := loadtest.Run(t.Context(), c, loadtest.Plan{
				Run: "t", Users: us, JobsPerUser: 4, InFlight: 2, Replays: 0.5,
				Poll: mode, PollEvery: 10 * time.Millisecond, Wait: time.Minute,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(o.Accepted()); got != 12 {
				t.Fatalf("accepted %d, want 12", got)
			}
			if u := o.Unfinished(); len(u) != 0 {
				t.Errorf("%d unfinished", len(u))
			}
			for _, s := range o.Submissions {
				if strings.HasSuffix(s.Key, "j0001") && s.Calls != 2 {
					t.Errorf("%s: %d calls, want 2 (one 503, then the 202)", s.Key, s.Calls)
				}
			}
			rep := loadtest.Check(o, us, f.records(us), nil)
			if !rep.OK() || rep.Replays == 0 || rep.Accepted != 12 || rep.JobItems != 12 {
				var b strings.Builder
				rep.Write(&b)
				t.Errorf("report not OK or no replays:\n%s", b.String())
			}
			sum := c.Latencies.Summaries()
			if len(sum) != 2 {
				t.Errorf("routes timed: %+v", sum)
			}
		})
	}
}

func TestCheckFindsLostUnfinishedDuplicatedAndMiscountedJobs(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	us := users(1)
	o, err := loadtest.Run(t.Context(), loadtest.NewClient(srv.URL, 2), loadtest.Plan{
		Run: "t", Users: us, JobsPerUser: 4, PollEvery: 10 * time.Millisecond, Wait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := f.records(us)
	good := loadtest.Check(o, us, recs, map[string]int{"t-u00-j0000": 1, "t-u00-j0001": 1, "t-u00-j0002": 1, "t-u00-j0003": 1})
	if !good.OK() || good.ModelCallTotal != 4 {
		t.Fatalf("the untouched table should pass: %+v", good)
	}

	// Drop one job, leave one running, duplicate a key, miscount calls.
	byKey := map[string]loadtest.JobRecord{}
	for _, r := range recs[us[0].Sub] {
		byKey[r.Key] = r
	}
	running := byKey["t-u00-j0001"]
	running.Status = "running"
	dup := byKey["t-u00-j0002"]
	dup.ID = "job-extra"
	bad := map[string][]loadtest.JobRecord{us[0].Sub: {running, byKey["t-u00-j0002"], dup, byKey["t-u00-j0003"]}}
	rep := loadtest.Check(o, us, bad, map[string]int{"t-u00-j0003": 2})
	if rep.OK() {
		t.Fatal("a bad table passed")
	}
	if len(rep.Lost) != 1 || !strings.HasPrefix(rep.Lost[0], "t-u00-j0000") {
		t.Errorf("lost %v", rep.Lost)
	}
	if len(rep.NotTerminal) != 1 || len(rep.Duplicates) != 1 || len(rep.UsersOff) != 0 {
		t.Errorf("not terminal %v, duplicates %v, users off %v", rep.NotTerminal, rep.Duplicates, rep.UsersOff)
	}
	if len(rep.CallsMismatch) != 3 { // j0001 and j0002 0 calls for 1 attempt, j0003 2 for 1
		t.Errorf("calls mismatch %v", rep.CallsMismatch)
	}
	var b strings.Builder
	rep.Write(&b)
	if !strings.Contains(b.String(), "lost 1, not terminal 1, duplicated keys 1") {
		t.Errorf("report:\n%s", b.String())
	}
}
