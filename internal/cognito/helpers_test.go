package cognito

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests sign tokens themselves with crypto/rsa and crypto/hmac, not with
// jwx, so the Verifier is checked against an independent implementation and
// the tests can forge exactly the tokens an attacker would.

const (
	testPool     = "us-east-1_TestPool1"
	testClientID = "test-client-id"
)

var testKeys = sync.OnceValue(func() map[string]*rsa.PrivateKey {
	keys := map[string]*rsa.PrivateKey{}
	for _, kid := range []string{"key-a", "key-b", "key-c"} {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[kid] = k
	}
	return keys
})

func testKey(kid string) *rsa.PrivateKey { return testKeys()[kid] }

// fakeClock is an adjustable clock for VerifierConfig.Now.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Unix(1_900_000_000, 0).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time             { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration)    { c.ns.Add(int64(d)) }
func (c *fakeClock) Unix(d time.Duration) int64 { return c.Now().Add(d).Unix() }

// jwksServer serves a key set the test can change, and counts requests.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int64
	status  atomic.Int64 // non-zero: answer with this status instead
	// gate, if set, holds every answer until it is closed.
	gate atomic.Pointer[chan struct{}]

	mu   sync.Mutex
	keys []map[string]any
}

func newJWKSServer(t testing.TB, kids ...string) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.setKeys(kids...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+testPool+"/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		s.fetches.Add(1)
		if gate := s.gate.Load(); gate != nil {
			<-*gate
		}
		if st := s.status.Load(); st != 0 {
			w.WriteHeader(int(st))
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

// rsaJWK is the JWK of key's public half, as Cognito publishes it.
func rsaJWK(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
		"n": b64(pub.N.Bytes()),
		"e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}
}

func (s *jwksServer) setKeys(kids ...string) {
	keys := make([]map[string]any, 0, len(kids))
	for _, kid := range kids {
		keys = append(keys, rsaJWK(kid, &testKey(kid).PublicKey))
	}
	s.setRawKeys(keys...)
}

func (s *jwksServer) setRawKeys(keys ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

// hold makes the server hold its answers until release is called (at the
// latest when the test ends, so the server can close).
func (s *jwksServer) hold(t testing.TB) (release func()) {
	gate := make(chan struct{})
	s.gate.Store(&gate)
	release = sync.OnceFunc(func() {
		s.gate.Store(nil)
		close(gate)
	})
	t.Cleanup(release)
	return release
}

// waitForFetches waits until the server has received n requests.
func (s *jwksServer) waitForFetches(t testing.TB, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.fetches.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the key set was fetched %d times, want %d", s.fetches.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *jwksServer) issuer() string { return EndpointIssuer(s.URL, testPool) }

// newTestVerifier builds a Verifier for s with clock and the test app client.
func newTestVerifier(t testing.TB, s *jwksServer, clock *fakeClock) *Verifier {
	t.Helper()
	v, err := NewVerifier(context.Background(), VerifierConfig{
		Issuer:    s.issuer(),
		ClientIDs: []string{"other-app", testClientID},
		Now:       clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// accessClaims are the claims of a Cognito access token of the test pool,
// issued 10 s before clock's now and valid for an hour.
func accessClaims(s *jwksServer, clock *fakeClock) map[string]any {
	return map[string]any{
		"sub":        "8c2e4a2e-1111-4d5e-9a0b-123456789abc",
		"iss":        s.issuer(),
		"client_id":  testClientID,
		"origin_jti": "f0e1",
		"event_id":   "e1",
		"token_use":  "access",
		"scope":      "aws.cognito.signin.user.admin",
		"auth_time":  clock.Unix(-10 * time.Second),
		"iat":        clock.Unix(-10 * time.Second),
		"exp":        clock.Unix(time.Hour),
		"jti":        "6a8e0c7e-2222-4f00-8b11-abcdefabcdef",
		"username":   "alice",
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// signingInput is the JWS signing input for header and claims.
func signingInput(header, claims map[string]any) string {
	return b64(mustJSON(header)) + "." + b64(mustJSON(claims))
}

// signRS signs header and claims with key under hash (SHA-256 for RS256).
func signRS(header, claims map[string]any, key *rsa.PrivateKey, hash crypto.Hash) string {
	in := signingInput(header, claims)
	h := hash.New()
	h.Write([]byte(in))
	sig, err := rsa.SignPKCS1v15(nil, key, hash, h.Sum(nil))
	if err != nil {
		panic(err)
	}
	return in + "." + b64(sig)
}

// rs256 is a token as Cognito would issue it, signed with key kid.
func rs256(kid string, claims map[string]any) string {
	return signRS(map[string]any{"alg": "RS256", "kid": kid}, claims, testKey(kid), crypto.SHA256)
}

// hs256 signs header and claims with HMAC-SHA256 keyed with secret.
func hs256(header, claims map[string]any, secret []byte) string {
	in := signingInput(header, claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + b64(m.Sum(nil))
}

// with returns a copy of claims with the changes applied; a nil value
// removes the claim.
func with(claims map[string]any, changes map[string]any) map[string]any {
	out := make(map[string]any, len(claims))
	for k, v := range claims {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}
