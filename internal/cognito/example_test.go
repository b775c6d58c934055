package cognito

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// A Verifier checks an access token locally against the pool's published
// keys: signature, issuer, app client, token use and lifetime. Here the
// pool is a local server publishing one key, as Cognito does at the
// issuer's /.well-known/jwks.json, and the tokens are signed with it.
func ExampleVerifier_Verify() {
	ctx := context.Background()
	pool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{rsaJWK("key-a", &testKey("key-a").PublicKey)}})
	}))
	defer pool.Close()

	issuer := EndpointIssuer(pool.URL, testPool) // AWSIssuer(region, poolID) in AWS
	v, err := NewVerifier(ctx, VerifierConfig{Issuer: issuer, ClientIDs: []string{testClientID}})
	if err != nil {
		fmt.Println(err)
		return
	}

	now := time.Now()
	access := map[string]any{
		"sub": "8c2e4a2e-1111-4d5e-9a0b-123456789abc", "username": "alice",
		"iss": issuer, "client_id": testClientID, "token_use": "access",
		"scope": "aws.cognito.signin.user.admin", "jti": "6a8e0c7e",
		"iat": now.Unix(), "auth_time": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	p, err := v.Verify(ctx, rs256("key-a", access))
	fmt.Println(p.Sub, p.Username, p.HasScope("aws.cognito.signin.user.admin"), err)

	// An ID token of the same user, an access token of another app client
	// or an expired one is refused with an error of kind unauthorized (the
	// API answers 401) whose message is for the token's holder.
	for _, bad := range []map[string]any{
		with(access, map[string]any{"token_use": "id"}),
		with(access, map[string]any{"client_id": "another-app"}),
		with(access, map[string]any{"exp": now.Add(-time.Hour).Unix()}),
	} {
		_, err := v.Verify(ctx, rs256("key-a", bad))
		var e *jobs.Error
		if errors.As(err, &e) {
			fmt.Println(e.Kind == jobs.KindUnauthorized, e.Message)
		}
	}
	// Output:
	// 8c2e4a2e-1111-4d5e-9a0b-123456789abc alice true <nil>
	// true This is an ID token; send the access token instead.
	// true The access token is not valid.
	// true The access token has expired.
}
