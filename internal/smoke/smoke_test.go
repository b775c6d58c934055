package smoke_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/measure/loadtest"
	"github.com/promptq/promptq/internal/smoke"
)

// TestMain lets the test binary be the dev stack's kumo child too.
func TestMain(m *testing.M) {
	if devstack.IsChild() {
		os.Exit(devstack.Main(nil, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// startDev runs a dev stack (what make dev runs) in a temporary dir for
// the test, and returns it and its dir.
func startDev(t *testing.T) (*loadtest.Stack, string) {
	t.Helper()
	standin.RequireTool(t, "node/node_modules/.bin/cognito-local")
	dir := t.TempDir()
	s, err := loadtest.StartStack(t.Context(), loadtest.StackOptions{Dir: dir, Env: map[string]string{
		"PROMPTQ_LOCAL_TOKENS_PER_SECOND": "500",
		"PROMPTQ_LOCAL_LATENCY":           "0s",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, dir
}

// TestSmokePassesAgainstMakeDev is `make smoke` with no deployed stack:
// it finds the dev stack by its dev.json and every check passes.
func TestSmokePassesAgainstMakeDev(t *testing.T) {
	t.Parallel()
	s, dir := startDev(t)
	var out, errOut strings.Builder
	code := smoke.Main(t.Context(), []string{"--outputs", filepath.Join(dir, "no-stack-outputs.json"), "--dev-dir", dir},
		func(string) string { return "" }, &out, &errOut)
	if code != smoke.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{
		"smoke: checking make dev (" + filepath.Join(dir, "dev.json") + ")",
		"ok    an unauthenticated API request is refused: GET /jobs without a token: 401",
		"ok    the page is served: GET /: 200 text/html",
		"ok    its config.json is served and names this API and user pool",
		"ok    a throwaway user is created",
		"ok    the user logs in as the web app does",
		"ok    a short prompt is accepted: POST /generate: 202, job ",
		"ok    the job succeeds: succeeded after",
		"ok    the throwaway user is deleted",
		"smoke: all 7 checks passed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	users, err := standin.CognitoClient(s.Info.CognitoEndpoint).ListUsers(t.Context(), &cip.ListUsersInput{UserPoolId: aws.String(s.Info.UserPoolID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(users.Users) != 0 {
		t.Errorf("the pool keeps %d users after the smoke test, want its throwaway user deleted", len(users.Users))
	}
}

// TestSmokeChecksHTTPSAndSecurityHeadersWhenDeployed puts the dev stack's
// site and API behind TLS, as CloudFront and API Gateway serve them, and
// runs the checks a deployed stack gets: with the security headers every
// check passes; without them the page check fails and says which are
// missing.
func TestSmokeChecksHTTPSAndSecurityHeadersWhenDeployed(t *testing.T) {
	t.Parallel()
	s, _ := startDev(t)
	// A TLS front for the dev stack's web server or API; the site's also
	// adds the security headers, if asked to, and rewrites config.json to
	// name the API's front, as a deployed config.json names the API's
	// HTTPS URL.
	tlsFront := func(target string, headers bool, apiFrom, apiTo string) *httptest.Server {
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		p := httputil.NewSingleHostReverseProxy(u)
		p.ModifyResponse = func(res *http.Response) error {
			// make dev's web server sends the headers itself (from
			// web/security-headers.json); a front without them stands for
			// a CDN that drops them.
			for _, h := range smoke.SecurityHeaders {
				if headers {
					res.Header.Set(h, "set by the test")
				} else {
					res.Header.Del(h)
				}
			}
			if apiFrom != "" && res.Request.URL.Path == "/config.json" {
				b, err := io.ReadAll(res.Body)
				if err != nil {
					return err
				}
				b = bytes.ReplaceAll(b, []byte(apiFrom), []byte(apiTo))
				res.Body = io.NopCloser(bytes.NewReader(b))
				res.ContentLength = int64(len(b))
				res.Header.Set("Content-Length", strconv.Itoa(len(b)))
			}
			return nil
		}
		srv := httptest.NewTLSServer(p)
		t.Cleanup(srv.Close)
		return srv
	}
	api := tlsFront(s.Info.APIURL, false, "", "")
	for _, tc := range []struct {
		name    string
		headers bool
		want    []string
		ok      bool
	}{
		{"with the headers", true, []string{"ok    the site and the API are HTTPS",
			"ok    the page is served: GET /: 200 text/html", "with Strict-Transport-Security, X-Content-Type-Options",
			"ok    the job succeeds"}, true},
		{"without them", false, []string{"FAIL  the page is served: GET / lacks the security headers Strict-Transport-Security, " +
			"X-Content-Type-Options, X-Frame-Options, Referrer-Policy, Content-Security-Policy"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := tlsFront(s.Info.WebURL, tc.headers, s.Info.APIURL, api.URL)
			target := smoke.Target{
				Describe: "a test stack", Deployed: true,
				SiteURL: site.URL, APIURL: api.URL, Region: s.Info.Region,
				UserPoolID: s.Info.UserPoolID, ClientID: s.Info.ClientID,
			}
			var out strings.Builder
			res, err := smoke.Run(t.Context(), target, smoke.Options{
				HTTP:    site.Client(), // trusts the test certificate both fronts use
				Cognito: standin.CognitoClient(s.Info.CognitoEndpoint), Out: &out,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK() != tc.ok {
				t.Errorf("result %+v, want ok %v:\n%s", res, tc.ok, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestSmokeSaysWhenThereIsNothingToCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out, errOut strings.Builder
	code := smoke.Main(context.Background(), []string{"--outputs", filepath.Join(dir, "none.json"), "--dev-dir", dir},
		func(string) string { return "" }, &out, &errOut)
	if code != smoke.ExitUsage || !strings.Contains(errOut.String(), "run make deploy or make dev first") {
		t.Errorf("exit %d, stderr %q; want 2 and what to do", code, errOut.String())
	}
}

func TestFindTargetReadsTheDeployOutputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "stack-outputs.json")
	outputs := `{"Promptq":{"SiteUrl":"https://d111.cloudfront.net","ApiUrl":"https://abc.execute-api.eu-west-1.amazonaws.com/v1",` +
		`"Region":"eu-west-1","UserPoolId":"eu-west-1_Abc","UserPoolClientId":"client","CognitoEndpoint":"https://cognito-idp.eu-west-1.amazonaws.com/"}}`
	if err := os.WriteFile(file, []byte(outputs), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := smoke.FindTarget(file, "Promptq", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Deployed || got.SiteURL != "https://d111.cloudfront.net" || got.APIURL != "https://abc.execute-api.eu-west-1.amazonaws.com/v1" ||
		got.Region != "eu-west-1" || got.UserPoolID != "eu-west-1_Abc" || got.ClientID != "client" {
		t.Errorf("target %+v", got)
	}
	if _, err := smoke.FindTarget(file, "Other", dir); err == nil || !strings.Contains(err.Error(), "no outputs of stack Other") {
		t.Errorf("another stack's name: %v", err)
	}
	if err := os.WriteFile(file, []byte(`{"Promptq":{"SiteUrl":"https://x"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := smoke.FindTarget(file, "Promptq", dir); err == nil || !strings.Contains(err.Error(), "ApiUrl") {
		t.Errorf("outputs without the API: %v", err)
	}
}
