package devstack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/signup"
)

// presignupFunction is the name cognito-local invokes the pre-sign-up
// trigger by. Cognito's own error for a refused sign-up reads "PreSignUp
// failed with error <message>."; cognito-local puts the function's name
// first, so naming it after the trigger makes the two read alike.
const presignupFunction = "PreSignUp"

// triggerHandler serves Lambda's Invoke API (POST
// /2015-03-31/functions/{name}/invocations) for the user pool's triggers,
// as the dev stack serves the API behind a gateway: cognito-local invokes
// the trigger with the AWS SDK's Lambda client, and the code that runs is
// lambdas/presignup's (signup.Handler). A refusal is answered as Lambda
// answers a function error: 200 with X-Amz-Function-Error and the error
// as {"errorMessage", "errorType"}.
func triggerHandler(policy signup.Policy, log *slog.Logger) http.Handler {
	presignup := signup.Handler(policy, log)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.PathValue("name") != presignupFunction {
			w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": "Function not found: " + r.PathValue("name")})
			return
		}
		var ev events.CognitoEventUserPoolsPreSignup
		b, err := io.ReadAll(r.Body)
		if err == nil {
			err = json.Unmarshal(b, &ev)
		}
		if err != nil {
			functionError(w, "the event is not a pre-sign-up event: "+err.Error(), "Runtime.UnmarshalError")
			return
		}
		out, err := presignup(context.WithoutCancel(r.Context()), ev)
		if err != nil {
			functionError(w, err.Error(), "RefusedError")
			return
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	return mux
}

func functionError(w http.ResponseWriter, message, typ string) {
	w.Header().Set("X-Amz-Function-Error", "Unhandled")
	_ = json.NewEncoder(w).Encode(map[string]string{"errorMessage": message, "errorType": typ})
}
