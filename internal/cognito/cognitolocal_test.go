package cognito

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
)

// These tests run against cognito-local over the wire: real tokens from
// InitiateAuth, the real JWKS endpoint, the real SDK and GetUser.

// countingUserGetter passes calls to a real client and counts them.
type countingUserGetter struct {
	next  userGetter
	calls atomic.Int64
}

func (c *countingUserGetter) GetUser(ctx context.Context, in *cip.GetUserInput, opts ...func(*cip.Options)) (*cip.GetUserOutput, error) {
	c.calls.Add(1)
	return c.next.GetUser(ctx, in, opts...)
}

// claimsOf decodes a token's payload without verifying it, to forge a twin.
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// publicKeyForms fetches the key set at url and returns the forms of its
// first key an attacker might use as an HMAC secret: the key set, the JWK,
// the PKIX DER and PEM.
func publicKeyForms(t *testing.T, url string) [][]byte {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	set, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(set, &parsed); err != nil || len(parsed.Keys) == 0 {
		t.Fatalf("key set %s: %v", set, err)
	}
	key, err := jwk.ParseKey(parsed.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	var pub rsa.PublicKey
	if err := jwk.Export(key, &pub); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&pub)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{set, parsed.Keys[0], der, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
}

func TestVerifierAgainstCognitoLocal(t *testing.T) {
	t.Parallel()
	c := standin.Cognito(t)
	sub, tokens := c.NewUser(t)
	v, err := NewVerifier(t.Context(), VerifierConfig{Issuer: c.Issuer, ClientIDs: []string{c.ClientID}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("its access token verifies", func(t *testing.T) {
		t.Parallel()
		p, err := v.Verify(t.Context(), tokens.Access)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if p.Sub != sub || p.ClientID != c.ClientID || p.ExpiresAt.IsZero() {
			t.Errorf("Principal = %+v, want sub %s and client %s", p, sub, c.ClientID)
		}
		if !p.HasScope("aws.cognito.signin.user.admin") {
			t.Errorf("scopes = %v", p.Scopes)
		}
	})

	t.Run("its ID token is refused", func(t *testing.T) {
		t.Parallel()
		if _, err := v.Verify(t.Context(), tokens.ID); !errors.Is(err, ErrIDToken) {
			t.Errorf("err = %v, want %v", err, ErrIDToken)
		}
	})

	t.Run("its refresh token is refused", func(t *testing.T) {
		t.Parallel()
		if _, err := v.Verify(t.Context(), tokens.Refresh); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("err = %v, want %v", err, ErrTokenInvalid)
		}
	})

	t.Run("a forged HS256 twin is refused, though GetUser takes it", func(t *testing.T) {
		t.Parallel()
		claims := claimsOf(t, tokens.Access)
		header := map[string]any{"alg": "HS256", "typ": "JWT", "kid": "CognitoLocal"}
		forged := []string{hs256(header, claims, []byte("secret"))}
		// Key confusion: HMAC keyed with the public key as published.
		for _, secret := range publicKeyForms(t, c.Issuer+"/.well-known/jwks.json") {
			forged = append(forged, hs256(header, claims, secret))
		}
		for i, tok := range forged {
			if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrTokenInvalid) {
				t.Errorf("forged token %d: err = %v, want %v", i, err, ErrTokenInvalid)
			}
		}
		// The stand-in's own GetUser doesn't check signatures: this is why
		// the Verifier must run before the revocation check.
		_, err := c.Client.GetUser(t.Context(), &cip.GetUserInput{AccessToken: aws.String(forged[0])})
		t.Logf("cognito-local GetUser on the forged token: err = %v", err)
	})

	t.Run("a token of another pool on the same server is refused", func(t *testing.T) {
		t.Parallel()
		// cognito-local signs every pool's tokens with the same key, so
		// only the issuer check tells the pools apart.
		other, err := c.Server.Pool(t.Context(), "other-pool")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Server.SignUp(t.Context(), other, "mallory@example.com", "Correct-horse-1"); err != nil {
			t.Fatal(err)
		}
		otherTokens, err := c.Server.LogIn(t.Context(), other, "mallory@example.com", "Correct-horse-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(t.Context(), otherTokens.Access); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("err = %v, want %v", err, ErrTokenInvalid)
		}
		// Even if someone allowed the other pool's app client.
		v2, err := NewVerifier(t.Context(), VerifierConfig{Issuer: c.Issuer, ClientIDs: []string{c.ClientID, other.ClientID}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v2.Verify(t.Context(), otherTokens.Access); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("with its client allowed: err = %v, want %v", err, ErrTokenInvalid)
		}
	})
}

func TestRevocationCheckerAgainstCognitoLocal(t *testing.T) {
	t.Parallel()
	c := standin.Cognito(t)
	_, tokens := c.NewUser(t)
	counter := &countingUserGetter{next: c.Client}
	rc, err := NewRevocationChecker(counter, RevocationConfig{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}

	if err := rc.Check(t.Context(), tokens.Access); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	if err := rc.Check(t.Context(), tokens.Access); err != nil {
		t.Fatalf("valid token again: %v", err)
	}
	if n := counter.calls.Load(); n != 1 {
		t.Errorf("GetUser calls = %d for the same token twice, want 1 (cache hit)", n)
	}

	err = rc.Check(t.Context(), "garbage")
	if jobs.KindOf(err) != jobs.KindUnauthorized {
		t.Errorf("garbage token: err = %v, want kind unauthorized", err)
	}
	if n := counter.calls.Load(); n != 2 {
		t.Errorf("GetUser calls = %d, want 2", n)
	}

	// A deleted user's token still has a good signature; only Cognito
	// knows it's dead.
	_, deadTokens := c.NewUser(t)
	p, err := func() (Principal, error) {
		v, err := NewVerifier(t.Context(), VerifierConfig{Issuer: c.Issuer, ClientIDs: []string{c.ClientID}})
		if err != nil {
			t.Fatal(err)
		}
		return v.Verify(t.Context(), deadTokens.Access)
	}()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.AdminDeleteUser(t.Context(), &cip.AdminDeleteUserInput{
		UserPoolId: aws.String(c.PoolID), Username: aws.String(p.Username),
	}); err != nil {
		t.Fatal(err)
	}
	if err := rc.Check(t.Context(), deadTokens.Access); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("deleted user's token: err = %v, want %v", err, ErrTokenRevoked)
	}
}
