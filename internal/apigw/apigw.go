// Package apigw serves an http.Handler to API Gateway REST API proxy
// integrations, so lambdas/api runs the very handler the dev runner and
// tests serve over plain HTTP.
//
// It is written here rather than taken from awslabs/aws-lambda-go-api-proxy
// because that module drags the dependency trees of five web frameworks into
// go.sum for the sixty lines that matter, and the conversion is easy to read
// and test in full.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Handler adapts h to API Gateway proxy events.
func Handler(h http.Handler) func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		r, err := Request(ctx, ev)
		if err != nil {
			// An event API Gateway would never send; answer rather than
			// fail the invocation, which would surface as a bare 502.
			return events.APIGatewayProxyResponse{
				StatusCode: http.StatusBadRequest,
				Headers:    map[string]string{"Content-Type": "application/json; charset=utf-8"},
				Body:       `{"error":{"code":"invalid_request","message":"The request could not be read."}}`,
			}, nil
		}
		w := newResponseWriter()
		h.ServeHTTP(w, r)
		return w.response(), nil
	}
}

// Request builds the http.Request an event stands for.
func Request(ctx context.Context, ev events.APIGatewayProxyRequest) (*http.Request, error) {
	u := url.URL{Path: ev.Path}
	q := url.Values{}
	if len(ev.MultiValueQueryStringParameters) > 0 {
		for k, vs := range ev.MultiValueQueryStringParameters {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
	} else {
		for k, v := range ev.QueryStringParameters {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()

	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
		body = b
	}
	r, err := http.NewRequestWithContext(ctx, ev.HTTPMethod, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	r.RequestURI = u.RequestURI()
	if len(ev.MultiValueHeaders) > 0 {
		for k, vs := range ev.MultiValueHeaders {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
	} else {
		for k, v := range ev.Headers {
			r.Header.Set(k, v)
		}
	}
	r.Host = r.Header.Get("Host")
	r.ContentLength = int64(len(body))
	// API Gateway's request id is the one its access log and X-Ray use; a
	// client cannot choose it.
	if id := ev.RequestContext.RequestID; id != "" {
		r.Header.Set("X-Request-Id", id)
	}
	if ip := ev.RequestContext.Identity.SourceIP; ip != "" {
		r.RemoteAddr = ip
	}
	return r, nil
}

type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newResponseWriter() *responseWriter { return &responseWriter{header: http.Header{}} }

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(b)
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *responseWriter) response() events.APIGatewayProxyResponse {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	res := events.APIGatewayProxyResponse{StatusCode: w.status, MultiValueHeaders: map[string][]string{}}
	for k, vs := range w.header {
		res.MultiValueHeaders[http.CanonicalHeaderKey(k)] = vs
	}
	b := w.body.Bytes()
	ct := w.header.Get("Content-Type")
	if utf8.Valid(b) && (ct == "" || strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json")) {
		res.Body = string(b)
	} else {
		res.Body = base64.StdEncoding.EncodeToString(b)
		res.IsBase64Encoded = true
	}
	return res
}
