package devstack_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/standin"
)

// TestSignUpModes runs the dev stack in each sign-up mode and signs up
// through cognito-local's API, as the web app does: the pre-sign-up
// trigger (lambdas/presignup's code, invoked by cognito-local) lets
// through only what the mode allows, an administrator's AdminCreateUser
// always works, and /config.json tells the page the mode.
func TestSignUpModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		allowed []string // addresses whose sign-up succeeds
		refused []string // addresses refused, with the message below
		message string
		config  string // /config.json's sign_up and sign_up_domains
	}{
		{"open", nil, []string{"a@anywhere.net"}, nil, "", `open []`},
		{"domains", map[string]string{"PROMPTQ_SIGN_UP": "domains", "PROMPTQ_SIGN_UP_DOMAINS": "example.com,Example.org"},
			[]string{"a@example.com", "b@EXAMPLE.org"}, []string{"c@elsewhere.net", "d@mail.example.com"},
			"PreSignUp failed with error Sign-up is open to email addresses at example.com or example.org only.",
			`domains [example.com example.org]`},
		{"invite", map[string]string{"PROMPTQ_SIGN_UP": "invite"},
			nil, []string{"a@example.com"}, "Sign-up is by invitation only", `invite []`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := stackEnv(t, t.TempDir())
			for k, v := range tt.env {
				env[k] = v
			}
			s, out := startStack(t, env)
			info := s.Info()
			c := standin.CognitoClient(info.CognitoEndpoint)

			var cfg devstack.WebConfig
			res, err := http.Get(info.WebURL + "/config.json")
			if err != nil {
				t.Fatal(err)
			}
			err = json.NewDecoder(res.Body).Decode(&cfg)
			res.Body.Close()
			if got := cfg.SignUp + " [" + strings.Join(cfg.SignUpDomains, " ") + "]"; err != nil || got != tt.config {
				t.Errorf("/config.json sign_up and sign_up_domains: %s (%v), want %s", got, err, tt.config)
			}

			for _, email := range tt.allowed {
				if err := selfSignUp(t, c, info, email); err != nil {
					t.Errorf("sign-up of %s: %v", email, err)
					continue
				}
				out.waitFor(t, regexp.MustCompile(regexp.QuoteMeta(devstack.CodeLinePrefix+email+": ")), nil)
			}
			for _, email := range tt.refused {
				err := selfSignUp(t, c, info, email)
				var apiErr smithy.APIError
				if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "UserLambdaValidationException" || !strings.Contains(apiErr.ErrorMessage(), tt.message) {
					t.Errorf("sign-up of %s: %v; want UserLambdaValidationException saying %q", email, err, tt.message)
				}
			}
			// An administrator may add anyone, in every mode.
			if _, err := c.AdminCreateUser(t.Context(), &cip.AdminCreateUserInput{
				UserPoolId:     aws.String(info.UserPoolID),
				Username:       aws.String("invited@elsewhere.net"),
				UserAttributes: []types.AttributeType{{Name: aws.String("email"), Value: aws.String("invited@elsewhere.net")}},
				MessageAction:  types.MessageActionTypeSuppress,
			}); err != nil {
				t.Errorf("AdminCreateUser: %v", err)
			}
			users, err := c.ListUsers(t.Context(), &cip.ListUsersInput{UserPoolId: aws.String(info.UserPoolID)})
			if err != nil {
				t.Fatal(err)
			}
			var emails []string
			for _, u := range users.Users {
				for _, a := range u.Attributes {
					if aws.ToString(a.Name) == "email" {
						emails = append(emails, strings.ToLower(aws.ToString(a.Value)))
					}
				}
			}
			for _, refused := range tt.refused {
				if slices.Contains(emails, refused) {
					t.Errorf("the refused %s is a user of the pool", refused)
				}
			}
		})
	}
}

func selfSignUp(t *testing.T, c *cip.Client, info devinfo.Info, email string) error {
	t.Helper()
	_, err := c.SignUp(t.Context(), &cip.SignUpInput{
		ClientId:       aws.String(info.ClientID),
		Username:       aws.String(email),
		Password:       aws.String("Correct-horse-battery-1"),
		UserAttributes: []types.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}},
	})
	return err
}
