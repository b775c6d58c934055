package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/promptq/promptq/internal/apigw"
)

func testGateway(t *testing.T, fn proxyHandler) *httptest.Server {
	t.Helper()
	g := &gateway{
		fn:                 fn,
		functionTimeout:    time.Minute,
		functionARN:        "arn:aws:lambda:us-east-1:000000000000:function:api",
		stage:              "dev",
		log:                slog.New(slog.DiscardHandler),
		integrationTimeout: integrationTimeout,
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv
}

func TestGatewayHandsTheHandlerTheRequestAsAPIGatewayWould(t *testing.T) {
	t.Parallel()
	type seen struct {
		Method, Path, Query, Body, Multi, RequestID string
	}
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Twice", "1")
		w.Header().Add("X-Twice", "2")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(seen{r.Method, r.URL.Path, r.URL.RawQuery, string(b),
			strings.Join(r.Header.Values("X-Multi"), ","), r.Header.Get("X-Request-Id")})
	})
	var ev events.APIGatewayProxyRequest
	var deadline time.Time
	var lc *lambdacontext.LambdaContext
	srv := testGateway(t, func(ctx context.Context, e events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		ev = e
		deadline, _ = ctx.Deadline()
		lc, _ = lambdacontext.FromContext(ctx)
		return apigw.Handler(echo)(ctx, e)
	})

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/jobs/abc?x=1&x=2&y=z", strings.NewReader(`{"prompt":"hi"}`))
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got seen
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}

	want := seen{"POST", "/jobs/abc", "x=1&x=2&y=z", `{"prompt":"hi"}`, "a,b", ev.RequestContext.RequestID}
	if got != want {
		t.Errorf("the handler saw %+v, want %+v", got, want)
	}
	if res.StatusCode != http.StatusCreated || strings.Join(res.Header.Values("X-Twice"), ",") != "1,2" {
		t.Errorf("response: status %d, X-Twice %q", res.StatusCode, res.Header.Values("X-Twice"))
	}
	if id := res.Header.Get("X-Amzn-Requestid"); id == "" || id != ev.RequestContext.RequestID {
		t.Errorf("x-amzn-RequestId %q, event request id %q", id, ev.RequestContext.RequestID)
	}
	for _, c := range []struct{ name, got, want string }{
		{"resource", ev.Resource, "/{proxy+}"},
		{"pathParameters.proxy", ev.PathParameters["proxy"], "jobs/abc"},
		{"headers X-Multi (the last)", ev.Headers["X-Multi"], "b"},
		{"queryStringParameters x (the last)", ev.QueryStringParameters["x"], "2"},
		{"multiValueQueryStringParameters x", strings.Join(ev.MultiValueQueryStringParameters["x"], ","), "1,2"},
		{"requestContext.stage", ev.RequestContext.Stage, "dev"},
		{"requestContext.identity.sourceIp", ev.RequestContext.Identity.SourceIP, "127.0.0.1"},
		{"X-Forwarded-For", ev.Headers["X-Forwarded-For"], "127.0.0.1"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if ev.IsBase64Encoded {
		t.Error("a JSON body arrived base64-encoded")
	}
	if deadline.IsZero() || deadline.After(start.Add(time.Minute+time.Second)) {
		t.Errorf("function deadline %v: want the function timeout from the call", deadline)
	}
	if lc == nil || lc.AwsRequestID == "" {
		t.Errorf("no Lambda context: %+v", lc)
	}
}

func TestGatewayPassesAQueryValueItCannotDecodeVerbatim(t *testing.T) {
	t.Parallel()
	var ev events.APIGatewayProxyRequest
	var raw string
	srv := testGateway(t, func(ctx context.Context, e events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		ev = e
		return apigw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw = r.URL.RawQuery
		}))(ctx, e)
	})
	res, err := http.Get(srv.URL + "/jobs?cursor=%%%garbage&limit=%32")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := ev.QueryStringParameters["cursor"]; got != "%%%garbage" {
		t.Errorf("cursor = %q, want it verbatim (dropping it would answer the first page)", got)
	}
	if got := ev.QueryStringParameters["limit"]; got != "2" {
		t.Errorf("limit = %q, want it decoded", got)
	}
	if q, _ := url.ParseQuery(raw); q.Get("cursor") != "%%%garbage" {
		t.Errorf("the handler's query %q lost the cursor", raw)
	}
}

func TestGatewayBase64EncodesBinaryBodies(t *testing.T) {
	t.Parallel()
	body := []byte{0xff, 0x00, 0xfe, 'x'}
	var got []byte
	var ev events.APIGatewayProxyRequest
	srv := testGateway(t, func(ctx context.Context, e events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		ev = e
		return apigw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, _ = io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(got)
		}))(ctx, e)
	})
	res, err := http.Post(srv.URL+"/x", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	back, _ := io.ReadAll(res.Body)
	if !ev.IsBase64Encoded || !bytes.Equal(got, body) || !bytes.Equal(back, body) {
		t.Errorf("base64 %v; handler read %x, client got back %x; want %x", ev.IsBase64Encoded, got, back, body)
	}
}

func TestGatewayAnswersAsAPIGatewayWhenTheIntegrationFails(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	tests := []struct {
		name        string
		fn          proxyHandler
		fnTimeout   time.Duration
		gwTimeout   time.Duration
		body        io.Reader
		wantStatus  int
		wantMessage string
	}{
		{"over 10 MB", nil, time.Minute, integrationTimeout, bytes.NewReader(make([]byte, maxPayload+1)),
			http.StatusRequestEntityTooLarge, "Request Too Long"},
		{"the function returns an error", func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{}, errors.New("boom")
		}, time.Minute, integrationTimeout, nil, http.StatusBadGateway, "Internal server error"},
		{"the function panics", func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			panic("boom")
		}, time.Minute, integrationTimeout, nil, http.StatusBadGateway, "Internal server error"},
		{"the function answers without a status", func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{Body: "{}"}, nil
		}, time.Minute, integrationTimeout, nil, http.StatusBadGateway, "Internal server error"},
		{"the function times out", func(ctx context.Context, _ events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			<-ctx.Done()
			<-release
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		}, 50 * time.Millisecond, integrationTimeout, nil, http.StatusBadGateway, "Internal server error"},
		{"the integration takes longer than API Gateway waits", func(ctx context.Context, _ events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			<-release
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		}, time.Minute, 50 * time.Millisecond, nil, http.StatusGatewayTimeout, "Endpoint request timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			called := false
			fn := tt.fn
			if fn == nil {
				fn = func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
					called = true
					return events.APIGatewayProxyResponse{StatusCode: 200}, nil
				}
			}
			g := &gateway{fn: fn, functionTimeout: tt.fnTimeout, stage: "dev", log: slog.New(slog.DiscardHandler), integrationTimeout: tt.gwTimeout}
			body := tt.body
			if body == nil {
				body = strings.NewReader("{}")
			}
			w := httptest.NewRecorder()
			g.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/generate", body))
			var msg struct{ Message string }
			_ = json.Unmarshal(w.Body.Bytes(), &msg)
			if w.Code != tt.wantStatus || msg.Message != tt.wantMessage {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), tt.wantStatus, tt.wantMessage)
			}
			if called {
				t.Error("the function was called")
			}
		})
	}
}

func TestGatewayMergesHeadersAsAPIGatewayDoes(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	writeProxyResponse(w, events.APIGatewayProxyResponse{
		StatusCode:        202,
		Headers:           map[string]string{"X-Single": "s", "X-Both": "from-headers"},
		MultiValueHeaders: map[string][]string{"X-Both": {"m1", "m2"}},
		Body:              "aGVsbG8=",
		IsBase64Encoded:   true,
	}, "rid", slog.New(slog.DiscardHandler))
	if w.Code != 202 || w.Body.String() != "hello" {
		t.Errorf("got %d %q, want 202 hello", w.Code, w.Body.String())
	}
	if got := strings.Join(w.Header().Values("X-Both"), ","); got != "m1,m2" || w.Header().Get("X-Single") != "s" {
		t.Errorf("X-Both %q (want m1,m2: multiValueHeaders win), X-Single %q", got, w.Header().Get("X-Single"))
	}
}
