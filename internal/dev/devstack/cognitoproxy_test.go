package devstack

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/promptq/promptq/internal/dev/standin"
)

func TestCognitoProxyResendsACodeAsCognitoDoes(t *testing.T) {
	t.Parallel()
	c := standin.Cognito(t)
	s, out, pool := c.Server, c.Out, c.Pool()
	h, err := cognitoProxy(s.URL, s.Client, pool.ID, &codeWatcher{out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	call := func(action string, body map[string]any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/", strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService."+action)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return res.StatusCode, m
	}
	codes := regexp.MustCompile(`Code:\s+(\d+)`)
	codeCount := func() int { return len(codes.FindAllString(out.String(), -1)) }
	// waitCode returns the n-th code printed (1-based), waiting for it.
	waitCode := func(n int) string {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); codeCount() < n; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("code %d never printed:\n%s", n, out.String())
			}
		}
		return codes.FindAllStringSubmatch(out.String(), -1)[n-1][1]
	}

	const email = "new@example.com"
	if _, err := s.Client.SignUp(t.Context(), &cip.SignUpInput{
		ClientId: aws.String(pool.ClientID), Username: aws.String(email), Password: aws.String("Correct-horse-1"),
		UserAttributes: []types.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}},
	}); err != nil {
		t.Fatal(err)
	}
	first := waitCode(1)

	status, body := call("ResendConfirmationCode", map[string]any{"ClientId": pool.ClientID, "Username": email})
	if d, _ := body["CodeDeliveryDetails"].(map[string]any); status != 200 || d["Destination"] != email {
		t.Fatalf("resend: %d %v", status, body)
	}
	fresh := waitCode(2)
	if fresh != first {
		if status, body := call("ConfirmSignUp", map[string]any{"ClientId": pool.ClientID, "Username": email, "ConfirmationCode": first}); status == 200 {
			t.Errorf("the first code still confirms after a resend: %v", body)
		}
	}
	// Everything else passes through.
	if status, body := call("ConfirmSignUp", map[string]any{"ClientId": pool.ClientID, "Username": email, "ConfirmationCode": fresh}); status != 200 {
		t.Fatalf("confirm with the new code: %d %v", status, body)
	}

	for _, c := range []struct{ user, wantType string }{
		{email, "InvalidParameterException"},            // confirmed by now
		{"nobody@example.com", "UserNotFoundException"}, // never signed up
	} {
		status, body := call("ResendConfirmationCode", map[string]any{"ClientId": pool.ClientID, "Username": c.user})
		if status != 400 || body["__type"] != c.wantType {
			t.Errorf("resend for %s: %d %v, want 400 %s", c.user, status, body, c.wantType)
		}
	}
	if n := codeCount(); n != 2 {
		t.Errorf("%d codes sent, want 2 (none for a confirmed or unknown user)", n)
	}
}

// resetsSeen records the addresses the proxy says a reset code goes to.
type resetsSeen struct {
	mu     sync.Mutex
	emails []string
}

func (r *resetsSeen) expectReset(email string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emails = append(r.emails, email)
}

// A forgotten password is reset with Cognito's code flow through the
// proxy: an unconfirmed account is refused as Cognito refuses it (its
// address is not verified), a confirmed one gets a code, noted as a
// reset's, which sets the new password.
func TestCognitoProxyResetsAPasswordAsCognitoDoes(t *testing.T) {
	t.Parallel()
	c := standin.Cognito(t)
	s, out, pool := c.Server, c.Out, c.Pool()
	notes := &resetsSeen{}
	h, err := cognitoProxy(s.URL, s.Client, pool.ID, notes)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	call := func(action string, body map[string]any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/", strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService."+action)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return res.StatusCode, m
	}
	codes := regexp.MustCompile(`Code:\s+(\d+)`)
	waitCode := func(n int) string {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); len(codes.FindAllString(out.String(), -1)) < n; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("code %d never printed:\n%s", n, out.String())
			}
		}
		return codes.FindAllStringSubmatch(out.String(), -1)[n-1][1]
	}

	const email, old, fresh = "forgetful@example.com", "Correct-horse-1", "Battery-staple-2"
	if _, err := s.Client.SignUp(t.Context(), &cip.SignUpInput{
		ClientId: aws.String(pool.ClientID), Username: aws.String(email), Password: aws.String(old),
		UserAttributes: []types.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}},
	}); err != nil {
		t.Fatal(err)
	}
	waitCode(1) // the sign-up's
	if status, body := call("ForgotPassword", map[string]any{"ClientId": pool.ClientID, "Username": email}); status != 400 || body["__type"] != "InvalidParameterException" {
		t.Errorf("reset of an unconfirmed account: %d %v, want 400 InvalidParameterException", status, body)
	}
	if _, err := s.Client.AdminConfirmSignUp(t.Context(), &cip.AdminConfirmSignUpInput{UserPoolId: aws.String(pool.ID), Username: aws.String(email)}); err != nil {
		t.Fatal(err)
	}
	status, body := call("ForgotPassword", map[string]any{"ClientId": pool.ClientID, "Username": email})
	if d, _ := body["CodeDeliveryDetails"].(map[string]any); status != 200 || d["Destination"] != email {
		t.Fatalf("reset: %d %v", status, body)
	}
	code := waitCode(2)
	notes.mu.Lock()
	if len(notes.emails) != 1 || notes.emails[0] != email {
		t.Errorf("resets noted %v, want %s once", notes.emails, email)
	}
	notes.mu.Unlock()
	if status, body := call("ConfirmForgotPassword", map[string]any{"ClientId": pool.ClientID, "Username": email, "ConfirmationCode": "000000", "Password": fresh}); status != 400 || body["__type"] != "CodeMismatchException" {
		t.Errorf("a wrong code: %d %v", status, body)
	}
	if status, body := call("ConfirmForgotPassword", map[string]any{"ClientId": pool.ClientID, "Username": email, "ConfirmationCode": code, "Password": fresh}); status != 200 {
		t.Fatalf("confirm the reset: %d %v", status, body)
	}
	for _, tt := range []struct {
		password string
		ok       bool
	}{{fresh, true}, {old, false}} {
		_, err := s.Client.InitiateAuth(t.Context(), &cip.InitiateAuthInput{
			ClientId: aws.String(pool.ClientID), AuthFlow: types.AuthFlowTypeUserPasswordAuth,
			AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": tt.password},
		})
		if (err == nil) != tt.ok {
			t.Errorf("log in with %s: %v, want ok %v", tt.password, err, tt.ok)
		}
	}
}
