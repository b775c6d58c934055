package loadtest

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"golang.org/x/sync/errgroup"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/standin"
)

// User is a signed-in user of the stack's pool.
type User struct {
	Email    string
	Password string
	Sub      string // the owner of their jobs
	Token    string // access token
}

// userPassword meets the stack's password policy (12+ characters, upper,
// lower, digit, symbol).
const userPassword = "Load-test-passw0rd!"

// SignUpUsers creates n users named <prefix>-NN@example.com in the stack's
// pool (SignUp, then AdminConfirmSignUp, as an administrator confirms
// without the emailed code) and logs each in, parallel at a time.
func SignUpUsers(ctx context.Context, info devinfo.Info, prefix string, n, parallel int) ([]User, error) {
	client := standin.CognitoClient(info.CognitoEndpoint)
	users := make([]User, n)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(parallel, 1))
	for i := range users {
		g.Go(func() error {
			u := User{Email: fmt.Sprintf("%s-%02d@example.com", prefix, i), Password: userPassword}
			out, err := client.SignUp(ctx, &cip.SignUpInput{
				ClientId:       aws.String(info.ClientID),
				Username:       aws.String(u.Email),
				Password:       aws.String(u.Password),
				UserAttributes: []types.AttributeType{{Name: aws.String("email"), Value: aws.String(u.Email)}},
			})
			if err != nil {
				return fmt.Errorf("sign up %s: %w", u.Email, err)
			}
			u.Sub = aws.ToString(out.UserSub)
			if _, err := client.AdminConfirmSignUp(ctx, &cip.AdminConfirmSignUpInput{
				UserPoolId: aws.String(info.UserPoolID), Username: aws.String(u.Email),
			}); err != nil {
				return fmt.Errorf("confirm %s: %w", u.Email, err)
			}
			if u.Token, err = LogIn(ctx, info, u.Email, u.Password); err != nil {
				return err
			}
			users[i] = u
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return users, nil
}

// LogIn returns a fresh access token (USER_PASSWORD_AUTH).
func LogIn(ctx context.Context, info devinfo.Info, email, password string) (string, error) {
	out, err := standin.CognitoClient(info.CognitoEndpoint).InitiateAuth(ctx, &cip.InitiateAuthInput{
		ClientId:       aws.String(info.ClientID),
		AuthFlow:       types.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": password},
	})
	if err != nil {
		return "", fmt.Errorf("log in %s: %w", email, err)
	}
	if out.AuthenticationResult == nil {
		return "", fmt.Errorf("log in %s: a challenge instead of tokens", email)
	}
	return aws.ToString(out.AuthenticationResult.AccessToken), nil
}
