package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// CognitoPath is where the web server passes the page's Cognito calls on
// to cognito-local: config.json's cognito_endpoint under make dev.
const CognitoPath = "/cognito/"

// cognitoTarget is the X-Amz-Target prefix of the user pool API.
const cognitoTarget = "AWSCognitoIdentityProviderService."

// userPool is what the proxy asks cognito-local for a resend.
type userPool interface {
	AdminGetUser(context.Context, *cip.AdminGetUserInput, ...func(*cip.Options)) (*cip.AdminGetUserOutput, error)
}

// resetNotes learns that a password reset's code is about to be sent to
// an address (codeWatcher.expectReset), so the console says which code it
// is.
type resetNotes interface {
	expectReset(email string)
}

// cognitoProxy passes the page's user pool calls to cognito-local and
// answers two as Cognito does where cognito-local does not:
// ResendConfirmationCode, which it lacks (an unconfirmed user gets a new
// code: cognito-local's ForgotPassword makes one, stores it as the code
// ConfirmSignUp checks, and prints it in the box the dev runner echoes; a
// confirmed one gets an InvalidParameterException), and ForgotPassword
// for an unconfirmed user, which Cognito refuses (its email is not
// verified) and cognito-local would answer with a code whose
// ConfirmForgotPassword confirms the account. A ForgotPassword of a
// confirmed user goes through, noted first so the console calls its code
// a password reset's. Everything else goes through unchanged.
func cognitoProxy(endpoint string, pool userPool, poolID string, notes resetNotes) (http.Handler, error) {
	target, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.URL.Path = "/"
			r.Out.URL.RawPath = ""
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), cognitoTarget)
		if action != "ResendConfirmationCode" && action != "ForgotPassword" {
			proxy.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			cognitoError(w, http.StatusBadRequest, "InvalidParameterException", "The request body could not be read.")
			return
		}
		var in struct{ ClientId, Username string }
		if json.Unmarshal(body, &in) != nil || in.ClientId == "" || in.Username == "" {
			cognitoError(w, http.StatusBadRequest, "InvalidParameterException", "ClientId and Username are required.")
			return
		}
		user, err := pool.AdminGetUser(r.Context(), &cip.AdminGetUserInput{UserPoolId: aws.String(poolID), Username: aws.String(in.Username)})
		var notFound *types.UserNotFoundException
		switch {
		case errors.As(err, &notFound):
			cognitoError(w, http.StatusBadRequest, "UserNotFoundException", "User does not exist.")
			return
		case err != nil:
			cognitoError(w, http.StatusInternalServerError, "InternalErrorException", "cognito-local: "+err.Error())
			return
		case action == "ForgotPassword" && user.UserStatus == types.UserStatusTypeUnconfirmed:
			cognitoError(w, http.StatusBadRequest, "InvalidParameterException",
				"Cannot reset password for the user as there is no registered/verified email or phone_number")
			return
		case action == "ForgotPassword":
			for _, a := range user.UserAttributes {
				if aws.ToString(a.Name) == "email" {
					notes.expectReset(aws.ToString(a.Value))
				}
			}
		case user.UserStatus != types.UserStatusTypeUnconfirmed:
			cognitoError(w, http.StatusBadRequest, "InvalidParameterException", "User is already confirmed.")
			return
		}
		// ForgotPassword takes the same ClientId and Username and answers
		// with the same CodeDeliveryDetails.
		r.Header.Set("X-Amz-Target", cognitoTarget+"ForgotPassword")
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	}), nil
}

// cognitoError answers as Cognito's JSON protocol does.
func cognitoError(w http.ResponseWriter, status int, typ, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": strings.TrimSpace(message)})
}
