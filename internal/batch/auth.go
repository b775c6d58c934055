package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"
)

// CredentialsError says the credentials were refused (by Cognito at
// login, or by the API after a refresh) and what to set instead. Running
// the same command again cannot help until the settings change; the
// state is kept, so a run with good credentials sends nothing twice.
type CredentialsError struct {
	Reason string // what was refused, without the secret
	Fix    string // the settings that would fix it
	Err    error  // the refusal, if there is one to wrap
}

func (e *CredentialsError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// Fixes for refused credentials, by where they came from.
const (
	fixToken = "set PROMPTQ_TOKEN (or --token) to a current access token of this stack's user pool, " +
		"or set PROMPTQ_USERNAME and PROMPTQ_PASSWORD instead so the tool logs in and refreshes by itself"
	fixLogin = "check PROMPTQ_USERNAME and PROMPTQ_PASSWORD (or --username and --password), " +
		"and that --client-id (PROMPTQ_CLIENT_ID) and --region name this stack's user pool and app client"
)

// credentialsHint is implemented by token sources that know which
// settings they came from.
type credentialsHint interface{ fix() string }

// staticToken is a token given on the command line or in PROMPTQ_TOKEN. It
// cannot be refreshed: when the API refuses it, the run ends.
type staticToken string

func (t staticToken) Token(context.Context) (string, error) { return string(t), nil }

func (t staticToken) Refresh(context.Context, string) error {
	return errors.New("a token given with PROMPTQ_TOKEN or --token cannot be refreshed")
}

func (staticToken) fix() string { return fixToken }

// cognitoAPI is the part of the Cognito user pools client the login needs.
type cognitoAPI interface {
	InitiateAuth(ctx context.Context, in *cip.InitiateAuthInput, optFns ...func(*cip.Options)) (*cip.InitiateAuthOutput, error)
}

// cognitoLogin logs in with a username and password (USER_PASSWORD_AUTH)
// and keeps the access token fresh: it refreshes (REFRESH_TOKEN_AUTH) a
// little before the token expires and whenever the API refuses it, and
// logs in again if the refresh token itself is refused. It is safe for
// concurrent use; one refresh serves every waiting caller.
type cognitoLogin struct {
	api      cognitoAPI
	clientID string
	username string
	password string
	now      func() time.Time

	mu      sync.Mutex
	access  string
	refresh string
	renewAt time.Time // refresh before this
}

// newCognitoClient returns a user pools client for region, at endpoint if
// set (cognito-local under make dev). InitiateAuth needs no AWS
// credentials, so none are looked up.
func newCognitoClient(region, endpoint string) *cip.Client {
	return cip.New(cip.Options{
		Region:      region,
		Credentials: aws.AnonymousCredentials{},
		BaseEndpoint: func() *string {
			if endpoint == "" {
				return nil
			}
			return aws.String(endpoint)
		}(),
	})
}

func (c *cognitoLogin) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.access == "":
		if err := c.logIn(ctx); err != nil {
			return "", err
		}
	case !c.now().Before(c.renewAt):
		if err := c.renew(ctx); err != nil {
			return "", err
		}
	}
	return c.access, nil
}

func (c *cognitoLogin) Refresh(ctx context.Context, stale string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access != stale {
		return nil // another caller refreshed it already
	}
	return c.renew(ctx)
}

// renew refreshes the access token, or logs in again if that fails.
func (c *cognitoLogin) renew(ctx context.Context) error {
	if c.refresh != "" {
		out, err := c.api.InitiateAuth(ctx, &cip.InitiateAuthInput{
			ClientId:       aws.String(c.clientID),
			AuthFlow:       types.AuthFlowTypeRefreshTokenAuth,
			AuthParameters: map[string]string{"REFRESH_TOKEN": c.refresh},
		})
		if err == nil && out.AuthenticationResult != nil && aws.ToString(out.AuthenticationResult.AccessToken) != "" {
			c.keep(out.AuthenticationResult)
			return nil
		}
	}
	return c.logIn(ctx)
}

func (c *cognitoLogin) logIn(ctx context.Context) error {
	out, err := c.api.InitiateAuth(ctx, &cip.InitiateAuthInput{
		ClientId:       aws.String(c.clientID),
		AuthFlow:       types.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": c.username, "PASSWORD": c.password},
	})
	var apiErr smithy.APIError
	code := ""
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	switch {
	// cognito-local says InvalidPasswordException where Cognito says
	// NotAuthorizedException; neither says which of the two was wrong.
	case code == "NotAuthorizedException", code == "UserNotFoundException", code == "InvalidPasswordException":
		return &CredentialsError{Reason: fmt.Sprintf("log in as %s: Cognito refused the username or password", c.username), Fix: fixLogin}
	case code == "UserNotConfirmedException":
		return &CredentialsError{Reason: fmt.Sprintf("log in as %s: the user has not confirmed their sign-up yet", c.username),
			Fix: "confirm the sign-up with the emailed code (the web app asks for it), or set PROMPTQ_USERNAME to a confirmed user"}
	case code == "PasswordResetRequiredException":
		return &CredentialsError{Reason: fmt.Sprintf("log in as %s: Cognito wants the password reset first", c.username),
			Fix: "reset the password (the web app's log-in form), then set PROMPTQ_PASSWORD to the new one"}
	case err != nil:
		return fmt.Errorf("log in as %s: %w", c.username, err)
	case out.AuthenticationResult == nil:
		return fmt.Errorf("log in as %s: Cognito asks for %s, which this tool cannot answer; sign in once in the web app first", c.username, out.ChallengeName)
	}
	c.keep(out.AuthenticationResult)
	return nil
}

func (c *cognitoLogin) fix() string { return fixLogin }

func (c *cognitoLogin) keep(r *types.AuthenticationResultType) {
	c.access = aws.ToString(r.AccessToken)
	if rt := aws.ToString(r.RefreshToken); rt != "" {
		c.refresh = rt // a refresh answer carries none unless rotation is on
	}
	life := time.Duration(r.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Hour // Cognito's default access token lifetime
	}
	// Renew with a fifth of the lifetime left (at most five minutes), so
	// a token never expires between Token and the API reading it.
	c.renewAt = c.now().Add(life - min(life/5, 5*time.Minute))
}
