package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/dev/standin"
)

// TestBootstrapUnderRIE builds the real bootstrap, runs it under
// aws-lambda-rie with the stack's environment for domains mode, and sends
// it Cognito's pre-sign-up event (testdata/) for an address at an allowed
// domain, one at another domain, and an administrator's user.
func TestBootstrapUnderRIE(t *testing.T) {
	t.Parallel()
	event, err := os.ReadFile("testdata/pre-signup.json")
	if err != nil {
		t.Fatal(err)
	}
	fn := standin.StartRIE(t, standin.BuildLambda(t, "github.com/promptq/promptq/lambdas/presignup"),
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"PROMPTQ_SIGN_UP=domains",
		"PROMPTQ_SIGN_UP_DOMAINS=example.com,example.org",
	)
	res, err := fn.Invoke(t.Context(), event)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		TriggerSource string `json:"triggerSource"`
		Response      struct {
			AutoConfirmUser bool `json:"autoConfirmUser"`
		} `json:"response"`
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.Unmarshal(res, &out); err != nil || out.ErrorMessage != "" || out.TriggerSource != "PreSignUp_SignUp" || out.Response.AutoConfirmUser {
		t.Errorf("an address at example.com: %s (%v); want the event back, unconfirmed", res, err)
	}

	other := bytes.Replace(event, []byte("New.User@Example.com"), []byte("someone@elsewhere.net"), 1)
	res, err = fn.Invoke(t.Context(), other)
	if err != nil {
		t.Fatal(err)
	}
	out.ErrorMessage = ""
	if err := json.Unmarshal(res, &out); err != nil || out.ErrorMessage != "Sign-up is open to email addresses at example.com or example.org only." {
		t.Errorf("an address at elsewhere.net: %s (%v); want the refusal naming the domains", res, err)
	}

	admin := bytes.Replace(other, []byte("PreSignUp_SignUp"), []byte("PreSignUp_AdminCreateUser"), 1)
	res, err = fn.Invoke(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	out.ErrorMessage = ""
	if err := json.Unmarshal(res, &out); err != nil || out.ErrorMessage != "" {
		t.Errorf("an administrator's user at elsewhere.net: %s (%v); want it let through", res, err)
	}
	if logs := fn.Logs(); strings.Contains(logs, "someone@") || !strings.Contains(logs, `"domain":"elsewhere.net"`) {
		t.Errorf("the function's log carries the address, or not the domain:\n%s", logs)
	}
}
