package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/httpapi"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

// The API is one http.Handler: here served by httptest with the in-memory
// store and queue, and a token check that takes "Bearer user-1" as the
// user user-1 (in AWS, internal/cognito verifies Cognito access tokens).
// A prompt is accepted at once (202) and its job read back; another user
// cannot see it.
func Example() {
	logger := slog.New(slog.DiscardHandler)
	store := inmem.NewStore(inmem.Options{})
	svc, err := submit.New(submit.Config{Logger: logger}, submit.Deps{Store: store, Queue: &inmem.Queue{}, Budget: store})
	if err != nil {
		panic(err)
	}
	auth := httpapi.AuthenticatorFunc(func(_ context.Context, token string) (string, error) {
		if !strings.HasPrefix(token, "user-") {
			return "", &jobs.Error{Kind: jobs.KindUnauthorized, Message: "The access token is not valid."}
		}
		return token, nil
	})
	h, err := httpapi.New(httpapi.Config{Limits: jobs.DefaultLimits(), Logger: logger},
		httpapi.Deps{Store: store, Submit: svc, Auth: auth, Usage: store})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	call := func(method, path, user, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+user)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	status, body := call("POST", "/generate", "user-1", `{"prompt": "Write a haiku about queues."}`)
	id := body[strings.Index(body, `"job_id":"`)+10:][:36]
	fmt.Println(status)
	status, body = call("GET", "/jobs/"+id, "user-1", "")
	fmt.Println(status, strings.Contains(body, `"status":"queued"`))
	status, _ = call("GET", "/jobs/"+id, "user-2", "")
	fmt.Println(status)
	// Output:
	// 202
	// 200 true
	// 404
}
