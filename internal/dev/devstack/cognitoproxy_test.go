package devstack

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
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
	h, err := cognitoProxy(s.URL, s.Client, pool.ID)
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
