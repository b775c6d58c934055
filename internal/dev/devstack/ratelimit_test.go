package devstack_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
)

// TestAUserOverTheRequestRateGets429AndOthersAreServed floods GET /jobs
// as one user, over HTTP through the API Gateway stand-in, with a rate of
// 1 request a second (10 per 10-second window): that user gets 429 with
// Retry-After and the rate_limited error naming the limit, while another
// user, right after, is served as usual.
func TestAUserOverTheRequestRateGets429AndOthersAreServed(t *testing.T) {
	t.Parallel()
	env := stackEnv(t, t.TempDir())
	env["PROMPTQ_LIMIT_REQUESTS_PER_SECOND"] = "1"
	s, out := startStack(t, env)
	info := s.Info()
	greedy := signUp(t, info, out, nil)
	other := signUp(t, info, out, nil)

	get := func(token string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, info.APIURL+"/jobs", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}

	// Sent one after another, these pass 10 in some 10-second window long
	// before the bound, however slow the machine: 500 requests in 10 s
	// windows of at most 10 each would take over 8 minutes.
	var refused *http.Response
	var body []byte
	for n := 1; refused == nil; n++ {
		if n > 500 {
			t.Fatal("500 requests in a row and none refused")
		}
		res, b := get(greedy.access)
		switch res.StatusCode {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			refused, body = res, b
		default:
			t.Fatalf("request %d: %d %s", n, res.StatusCode, b)
		}
	}
	var e struct {
		Error struct{ Code, Field, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("429 body %q: %v", body, err)
	}
	if e.Error.Code != "rate_limited" || e.Error.Field != "requests_per_second" || e.Error.Message == "" {
		t.Errorf("429 error %+v, want rate_limited on requests_per_second with a message", e.Error)
	}
	if ra, err := strconv.Atoi(refused.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 10 {
		t.Errorf("Retry-After %q, want 1 to 10 seconds (the rest of the window)", refused.Header.Get("Retry-After"))
	}

	// The other user has an allowance of their own: 5 requests fit in it
	// whichever windows they fall in.
	for n := range 5 {
		if res, b := get(other.access); res.StatusCode != http.StatusOK {
			t.Errorf("the other user's request %d: %d %s", n+1, res.StatusCode, b)
		}
	}
}
