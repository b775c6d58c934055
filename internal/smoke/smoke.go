package smoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/promptq/promptq/internal/apiclient"
)

// SecurityHeaders are the response headers a deployed page and its
// config.json must carry (CloudFront's response headers policy).
var SecurityHeaders = []string{
	"Strict-Transport-Security",
	"X-Content-Type-Options",
	"X-Frame-Options",
	"Referrer-Policy",
	"Content-Security-Policy",
}

// cognitoAdmin is what the smoke test asks of the user pool: the
// operator's calls to make and remove the throwaway user, and the log-in
// the web app does.
type cognitoAdmin interface {
	AdminCreateUser(ctx context.Context, in *cip.AdminCreateUserInput, optFns ...func(*cip.Options)) (*cip.AdminCreateUserOutput, error)
	AdminSetUserPassword(ctx context.Context, in *cip.AdminSetUserPasswordInput, optFns ...func(*cip.Options)) (*cip.AdminSetUserPasswordOutput, error)
	AdminDeleteUser(ctx context.Context, in *cip.AdminDeleteUserInput, optFns ...func(*cip.Options)) (*cip.AdminDeleteUserOutput, error)
	InitiateAuth(ctx context.Context, in *cip.InitiateAuthInput, optFns ...func(*cip.Options)) (*cip.InitiateAuthOutput, error)
}

// Options are a run's collaborators and limits.
type Options struct {
	HTTP    *http.Client // nil: a client with a 30 s timeout per request
	Cognito cognitoAdmin // required
	Out     io.Writer    // a line per check
	// JobTimeout bounds the wait for the job to succeed; default 2 minutes.
	JobTimeout time.Duration
	// Sleep waits between polls; default a timer that ctx can cut short.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Result is what a run found.
type Result struct {
	Passed, Failed int
}

// OK says whether every check passed.
func (r Result) OK() bool { return r.Failed == 0 && r.Passed > 0 }

// run is one smoke run's state.
type run struct {
	ctx context.Context
	t   Target
	o   Options
	api *apiclient.Client // the API at t.APIURL, through o.HTTP
	res Result
}

// Run checks t and reports each check to o.Out. It returns the tally; an
// error only for what stops it from checking at all.
func Run(ctx context.Context, t Target, o Options) (Result, error) {
	if o.Cognito == nil {
		return Result{}, errors.New("smoke: Options.Cognito is required")
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = 2 * time.Minute
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	r := &run{ctx: ctx, t: t, o: o, api: &apiclient.Client{BaseURL: t.APIURL, HTTP: o.HTTP}}
	fmt.Fprintf(o.Out, "smoke: checking %s\n  web app %s\n  API     %s\n", t.Describe, t.SiteURL, t.APIURL)

	r.check("an unauthenticated API request is refused", r.unauthenticated)
	r.check("the page is served", func(ctx context.Context) (string, error) { return r.served(ctx, "/", "text/html") })
	r.check("its config.json is served and names this API and user pool", r.config)
	if t.Deployed {
		r.check("the site and the API are HTTPS", r.https)
	} else {
		fmt.Fprintln(o.Out, "  -     HTTPS and security headers: not checked (make dev serves plain HTTP, without CloudFront)")
	}

	user, err := newUser()
	if err != nil {
		return r.res, err
	}
	created := r.check("a throwaway user is created ("+user.email+")", func(ctx context.Context) (string, error) {
		return "AdminCreateUser, AdminSetUserPassword", r.createUser(ctx, user)
	})
	if created {
		// Whatever happens next, the user goes: on a new context, so an
		// interrupted run still cleans up.
		defer r.check("the throwaway user is deleted", func(ctx context.Context) (string, error) {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, err := o.Cognito.AdminDeleteUser(dctx, &cip.AdminDeleteUserInput{UserPoolId: aws.String(t.UserPoolID), Username: aws.String(user.email)})
			return "AdminDeleteUser", err
		})
	}
	var token, jobID string
	loggedIn := created && r.check("the user logs in as the web app does", func(ctx context.Context) (string, error) {
		var err error
		token, err = r.logIn(ctx, user)
		return "USER_PASSWORD_AUTH", err
	})
	submitted := loggedIn && r.check("a short prompt is accepted", func(ctx context.Context) (string, error) {
		var err error
		jobID, err = r.submit(ctx, token)
		return "POST /generate: 202, job " + jobID, err
	})
	if submitted {
		r.check("the job succeeds", func(ctx context.Context) (string, error) { return r.poll(ctx, token, jobID) })
	}
	if !submitted {
		fmt.Fprintln(o.Out, "  -     the job: not tried (a step before it failed)")
	}
	return r.res, nil
}

// check runs one check and prints its line: "ok" or "FAIL", what it
// found, and how long it took.
func (r *run) check(name string, f func(context.Context) (string, error)) bool {
	start := time.Now()
	detail, err := f(r.ctx)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		r.res.Failed++
		fmt.Fprintf(r.o.Out, "  FAIL  %s: %v (%s)\n", name, err, took)
		return false
	}
	r.res.Passed++
	if detail != "" {
		detail = ": " + detail
	}
	fmt.Fprintf(r.o.Out, "  ok    %s%s (%s)\n", name, detail, took)
	return true
}

func (r *run) unauthenticated(ctx context.Context) (string, error) {
	res, err := r.api.Do(ctx, http.MethodGet, "/jobs", "", nil, nil)
	if err != nil {
		return "", err
	}
	if res.Status != http.StatusUnauthorized {
		return "", fmt.Errorf("GET /jobs without a token answered %d, want 401: %s", res.Status, short(res.Body))
	}
	return "GET /jobs without a token: 401", nil
}

// served checks that path of the site answers 200 with contentType (and,
// deployed, the security headers).
func (r *run) served(ctx context.Context, path, contentType string) (string, error) {
	res, body, err := r.get(ctx, r.t.SiteURL+path)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s answered %d", path, res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, contentType) {
		return "", fmt.Errorf("GET %s is %q, want %s", path, ct, contentType)
	}
	if len(body) == 0 {
		return "", fmt.Errorf("GET %s is empty", path)
	}
	detail := fmt.Sprintf("GET %s: 200 %s, %d bytes", path, contentType, len(body))
	if r.t.Deployed {
		var missing []string
		for _, h := range SecurityHeaders {
			if res.Header.Get(h) == "" {
				missing = append(missing, h)
			}
		}
		if len(missing) > 0 {
			return "", fmt.Errorf("GET %s lacks the security headers %s", path, strings.Join(missing, ", "))
		}
		detail += ", with " + strings.Join(SecurityHeaders, ", ")
	}
	return detail, nil
}

func (r *run) config(ctx context.Context) (string, error) {
	detail, err := r.served(ctx, "/config.json", "application/json")
	if err != nil {
		return "", err
	}
	_, body, err := r.get(ctx, r.t.SiteURL+"/config.json")
	if err != nil {
		return "", err
	}
	var c struct {
		APIURL     string `json:"api_url"`
		UserPoolID string `json:"user_pool_id"`
		ClientID   string `json:"client_id"`
		SignUp     string `json:"sign_up"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return "", fmt.Errorf("config.json is not JSON: %w", err)
	}
	if strings.TrimRight(c.APIURL, "/") != r.t.APIURL || c.UserPoolID != r.t.UserPoolID || c.ClientID != r.t.ClientID {
		return "", fmt.Errorf("config.json names API %s, pool %s, client %s; want %s, %s, %s",
			c.APIURL, c.UserPoolID, c.ClientID, r.t.APIURL, r.t.UserPoolID, r.t.ClientID)
	}
	if c.SignUp != "" {
		detail += ", sign-up " + c.SignUp
	}
	return detail, nil
}

func (r *run) https(context.Context) (string, error) {
	for _, u := range []string{r.t.SiteURL, r.t.APIURL} {
		p, err := url.Parse(u)
		if err != nil || p.Scheme != "https" {
			return "", fmt.Errorf("%s is not an https URL", u)
		}
	}
	return "", nil
}

// throwaway is the smoke test's user.
type throwaway struct{ email, password string }

// newUser makes a user name no one has, at a domain that receives no mail
// (.invalid, RFC 2606), and a password that meets the stack's policy.
func newUser() (throwaway, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return throwaway{}, err
	}
	h := hex.EncodeToString(b)
	return throwaway{
		email:    "promptq-smoke-" + h[:8] + "@smoke.invalid",
		password: "Smoke-" + h[8:] + "-Aa1!",
	}, nil
}

func (r *run) createUser(ctx context.Context, u throwaway) error {
	_, err := r.o.Cognito.AdminCreateUser(ctx, &cip.AdminCreateUserInput{
		UserPoolId: aws.String(r.t.UserPoolID),
		Username:   aws.String(u.email),
		UserAttributes: []types.AttributeType{
			{Name: aws.String("email"), Value: aws.String(u.email)},
			{Name: aws.String("email_verified"), Value: aws.String("true")},
		},
		// No invitation mail; the password is set next.
		MessageAction: types.MessageActionTypeSuppress,
	})
	if err != nil {
		return fmt.Errorf("AdminCreateUser: %w", err)
	}
	if _, err := r.o.Cognito.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{
		UserPoolId: aws.String(r.t.UserPoolID),
		Username:   aws.String(u.email),
		Password:   aws.String(u.password),
		Permanent:  true,
	}); err != nil {
		return fmt.Errorf("AdminSetUserPassword: %w", err)
	}
	return nil
}

func (r *run) logIn(ctx context.Context, u throwaway) (string, error) {
	out, err := r.o.Cognito.InitiateAuth(ctx, &cip.InitiateAuthInput{
		ClientId:       aws.String(r.t.ClientID),
		AuthFlow:       types.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": u.email, "PASSWORD": u.password},
	})
	if err != nil {
		return "", fmt.Errorf("InitiateAuth: %w", err)
	}
	if out.AuthenticationResult == nil || aws.ToString(out.AuthenticationResult.AccessToken) == "" {
		return "", fmt.Errorf("InitiateAuth asked for %s instead of answering with tokens", out.ChallengeName)
	}
	return aws.ToString(out.AuthenticationResult.AccessToken), nil
}

func (r *run) submit(ctx context.Context, token string) (string, error) {
	body := []byte(`{"prompt":"This is promptq's smoke test. Reply with one short sentence.","max_tokens":32}`)
	res, err := r.api.Do(ctx, http.MethodPost, "/generate", token, nil, body)
	if err != nil {
		return "", err
	}
	if res.Status != http.StatusAccepted {
		return "", fmt.Errorf("POST /generate answered %d: %s", res.Status, short(res.Body))
	}
	var v struct {
		JobID string `json:"job_id"`
	}
	if err := json.Unmarshal(res.Body, &v); err != nil || v.JobID == "" {
		return "", fmt.Errorf("POST /generate answered 202 without a job id: %s", short(res.Body))
	}
	return v.JobID, nil
}

// poll reads the job, waiting what its Retry-After says, until it has
// succeeded, failed or been cancelled, or JobTimeout passes.
func (r *run) poll(ctx context.Context, token, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.JobTimeout)
	defer cancel()
	start := time.Now()
	for polls := 1; ; polls++ {
		res, err := r.api.Do(ctx, http.MethodGet, "/jobs/"+id, token, nil, nil)
		if err != nil {
			return "", err
		}
		b := res.Body
		var job struct {
			Status string `json:"status"`
			Tokens struct {
				Output int `json:"output"`
			} `json:"tokens"`
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if res.Status != http.StatusOK && res.Status != http.StatusTooManyRequests && res.Status < 500 {
			return "", fmt.Errorf("GET /jobs/%s answered %d: %s", id, res.Status, short(b))
		}
		if res.Status == http.StatusOK {
			if err := json.Unmarshal(b, &job); err != nil {
				return "", fmt.Errorf("GET /jobs/%s: %w", id, err)
			}
			switch job.Status {
			case "succeeded":
				return fmt.Sprintf("succeeded after %s (%d polls, %d output tokens)", time.Since(start).Round(100*time.Millisecond), polls, job.Tokens.Output), nil
			case "failed", "cancelled":
				return "", fmt.Errorf("the job %s: %s %s", job.Status, job.Error.Code, job.Error.Message)
			}
		}
		wait := time.Second
		if d, ok := res.RetryAfter(); ok && d > 0 {
			wait = d
		}
		if err := r.o.Sleep(ctx, wait); err != nil {
			return "", fmt.Errorf("the job is still %q after %s (%d polls)", job.Status, r.o.JobTimeout, polls)
		}
	}
}

// get reads u of the site (the page, its config.json), not the API.
func (r *run) get(ctx context.Context, u string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	res, err := r.o.HTTP.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return res, b, nil
}

// short is the start of a body, for an error message.
func short(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
