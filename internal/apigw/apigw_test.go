package apigw_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/apigw"
)

func loadEvent(t *testing.T, name string) events.APIGatewayProxyRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("unmarshal %s: %v", name, err)
	}
	return ev
}

func TestRequestCarriesWhatAPIGatewaySent(t *testing.T) {
	t.Parallel()
	ev := loadEvent(t, "get-job.json")
	r, err := apigw.Request(t.Context(), ev)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"method", r.Method, "GET"},
		{"path without the stage", r.URL.Path, "/jobs/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"},
		{"multi-value query", r.URL.Query()["tag"][0] + r.URL.Query()["tag"][1], "ab"},
		{"authorization", r.Header.Get("Authorization"), "Bearer eyJraWQiOiJrMSJ9.e30.sig"},
		{"request id is API Gateway's, not the client's", r.Header.Get("X-Request-Id"), "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"},
		{"remote addr", r.RemoteAddr, "203.0.113.7"},
		{"host", r.Host, "abc123.execute-api.us-east-1.amazonaws.com"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestHandlerRoundTrip(t *testing.T) {
	t.Parallel()
	var gotBody string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Add("Vary", "Origin")
		w.Header().Add("Vary", "Accept")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/jobs/x")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	res, err := apigw.Handler(h)(t.Context(), loadEvent(t, "post-generate-base64.json"))
	if err != nil {
		t.Fatal(err)
	}
	if gotBody != `{"prompt":"Hello, world"}` {
		t.Errorf("handler saw body %q, want the decoded base64", gotBody)
	}
	if res.StatusCode != http.StatusAccepted {
		t.Errorf("status = %d, want 202", res.StatusCode)
	}
	if res.Body != `{"ok":true}` || res.IsBase64Encoded {
		t.Errorf("body = %q (base64 %v), want the JSON as text", res.Body, res.IsBase64Encoded)
	}
	if v := res.MultiValueHeaders["Vary"]; len(v) != 2 {
		t.Errorf("Vary = %v, want both values kept", v)
	}
	if v := res.MultiValueHeaders["Location"]; len(v) != 1 || v[0] != "/jobs/x" {
		t.Errorf("Location = %v", v)
	}
}

func TestHandlerBinaryBodyIsBase64(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte{0xff, 0x00, 0xfe})
	})
	res, err := apigw.Handler(h)(t.Context(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsBase64Encoded || res.Body != "/wD+" || res.StatusCode != 200 {
		t.Errorf("got %+v, want base64 /wD+ and 200", res)
	}
}

func TestHandlerBadBase64IsA400NotAnError(t *testing.T) {
	t.Parallel()
	called := false
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })
	res, err := apigw.Handler(h)(t.Context(), events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/generate", Body: "%%%", IsBase64Encoded: true})
	if err != nil {
		t.Fatal(err)
	}
	if called || res.StatusCode != http.StatusBadRequest {
		t.Errorf("called=%v status=%d, want handler not called and 400", called, res.StatusCode)
	}
}
