package devstack

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/uuid"
)

// API Gateway's limits for a REST API.
const (
	maxPayload         = 10 << 20         // request body: 413 above it
	integrationTimeout = 29 * time.Second // 504 after it
)

// proxyHandler is a Lambda behind an API Gateway proxy integration, such as
// apigw.Handler(api).
type proxyHandler func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// gateway serves HTTP the way API Gateway's REST proxy integration does:
// each request becomes an APIGatewayProxyRequest for the function, whose
// response becomes the HTTP response. Like API Gateway it refuses bodies
// over 10 MB, answers 504 when the integration takes over 29 s, and 502
// when the function fails or times out.
type gateway struct {
	fn              proxyHandler
	functionTimeout time.Duration
	functionARN     string
	stage           string
	log             *slog.Logger
	// integrationTimeout is API Gateway's 29 s; a field so tests can
	// shorten it.
	integrationTimeout time.Duration
}

// gatewayError writes one of API Gateway's own responses.
func gatewayError(w http.ResponseWriter, requestID string, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":%q}`, message)
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := uuid.NewString()
	status := g.serve(w, r, requestID)
	g.log.Debug("api", "method", r.Method, "path", r.URL.Path, "status", status,
		"ms", time.Since(start).Milliseconds(), "request_id", requestID)
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request, requestID string) int {
	if r.ContentLength > maxPayload {
		gatewayError(w, requestID, http.StatusRequestEntityTooLarge, "Request Too Long")
		return http.StatusRequestEntityTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		gatewayError(w, requestID, http.StatusBadRequest, "Bad Request")
		return http.StatusBadRequest
	}
	if len(body) > maxPayload {
		gatewayError(w, requestID, http.StatusRequestEntityTooLarge, "Request Too Long")
		return http.StatusRequestEntityTooLarge
	}
	ev := g.event(r, body, requestID, time.Now())

	// The function runs on even if the client goes away, as in AWS, until
	// its own timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), g.functionTimeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: uuid.NewString(), InvokedFunctionArn: g.functionARN})
	type result struct {
		resp events.APIGatewayProxyResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
			}
		}()
		resp, err := g.fn(ctx, ev)
		done <- result{resp, err}
	}()
	timer := time.NewTimer(g.integrationTimeout)
	defer timer.Stop()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		g.log.Error("api function timed out", "request_id", requestID, "timeout", g.functionTimeout)
		gatewayError(w, requestID, http.StatusBadGateway, "Internal server error")
		return http.StatusBadGateway
	case <-timer.C:
		gatewayError(w, requestID, http.StatusGatewayTimeout, "Endpoint request timed out")
		return http.StatusGatewayTimeout
	}
	if res.err != nil {
		g.log.Error("api function failed", "request_id", requestID, "error", res.err)
		gatewayError(w, requestID, http.StatusBadGateway, "Internal server error")
		return http.StatusBadGateway
	}
	return writeProxyResponse(w, res.resp, requestID, g.log)
}

// event builds the request API Gateway would send for r under a
// {proxy+} resource.
func (g *gateway) event(r *http.Request, body []byte, requestID string, now time.Time) events.APIGatewayProxyRequest {
	headers := r.Header.Clone()
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	_, localPort, _ := net.SplitHostPort(r.Host)
	if localPort == "" {
		localPort = "80"
	}
	// API Gateway adds these; a client cannot set them.
	headers.Set("X-Forwarded-For", ip)
	headers.Set("X-Forwarded-Port", localPort)
	headers.Set("X-Forwarded-Proto", "http")
	headers.Set("X-Amzn-Trace-Id", "Root=1-"+strconv.FormatInt(now.Unix(), 16)+"-"+strings.ReplaceAll(uuid.NewString(), "-", "")[:24])
	headers.Set("Host", r.Host)

	ev := events.APIGatewayProxyRequest{
		Resource:          "/{proxy+}",
		Path:              r.URL.Path,
		HTTPMethod:        r.Method,
		Headers:           map[string]string{},
		MultiValueHeaders: map[string][]string{},
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID:        "000000000000",
			ResourceID:       "proxy",
			Stage:            g.stage,
			RequestID:        requestID,
			ResourcePath:     "/{proxy+}",
			HTTPMethod:       r.Method,
			APIID:            "local",
			Protocol:         r.Proto,
			Path:             "/" + g.stage + r.URL.Path,
			DomainName:       r.Host,
			RequestTime:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch: now.UnixMilli(),
			Identity:         events.APIGatewayRequestIdentity{SourceIP: ip, UserAgent: r.UserAgent()},
		},
	}
	for k, vs := range headers {
		ev.MultiValueHeaders[k] = vs
		ev.Headers[k] = vs[len(vs)-1] // API Gateway keeps the last value
	}
	if q := queryParameters(r.URL.RawQuery); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		ev.MultiValueQueryStringParameters = map[string][]string{}
		for k, vs := range q {
			ev.MultiValueQueryStringParameters[k] = vs
			ev.QueryStringParameters[k] = vs[len(vs)-1]
		}
	}
	if p := strings.TrimPrefix(r.URL.Path, "/"); p != "" {
		ev.PathParameters = map[string]string{"proxy": p}
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			// Bytes a JSON string cannot carry arrive base64-encoded.
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// queryParameters decodes a query string as API Gateway hands it to a
// proxy integration: names and values URL-decoded (its documentation
// lists this among REST APIs' known behaviours). What API Gateway does with
// an escape it cannot decode is not documented; here such a name or value
// is passed on verbatim rather than dropped (as url.Values would drop the
// whole pair), so the API sees cursor=%%%x and refuses it, instead of
// answering a request that was never made.
func queryParameters(raw string) map[string][]string {
	q := map[string][]string{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		q[unescapeOrKeep(k)] = append(q[unescapeOrKeep(k)], unescapeOrKeep(v))
	}
	return q
}

func unescapeOrKeep(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// writeProxyResponse turns the function's response into HTTP. As API
// Gateway does, it merges headers and multiValueHeaders (the latter win),
// decodes a base64 body, and answers 502 to a response without a status.
func writeProxyResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse, requestID string, log *slog.Logger) int {
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		log.Error("malformed Lambda proxy response", "request_id", requestID, "status", resp.StatusCode)
		gatewayError(w, requestID, http.StatusBadGateway, "Internal server error")
		return http.StatusBadGateway
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			log.Error("malformed Lambda proxy response: body is not base64", "request_id", requestID)
			gatewayError(w, requestID, http.StatusBadGateway, "Internal server error")
			return http.StatusBadGateway
		}
		body = b
	}
	h := w.Header()
	for k, vs := range resp.MultiValueHeaders {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	for k, v := range resp.Headers {
		if _, ok := resp.MultiValueHeaders[k]; !ok {
			h.Set(k, v)
		}
	}
	h.Set("X-Amzn-Requestid", requestID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	return resp.StatusCode
}
