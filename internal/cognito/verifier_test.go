package cognito

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

func TestVerifyAcceptsAValidAccessToken(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, "key-a", "key-b")
	clock := newFakeClock()
	v := newTestVerifier(t, s, clock)
	claims := with(accessClaims(s, clock), map[string]any{"cognito:groups": []string{"admins", "beta"}})

	p, err := v.Verify(t.Context(), rs256("key-b", claims))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := Principal{
		Sub:       "8c2e4a2e-1111-4d5e-9a0b-123456789abc",
		Username:  "alice",
		ClientID:  testClientID,
		Scopes:    []string{"aws.cognito.signin.user.admin"},
		Groups:    []string{"admins", "beta"},
		TokenID:   "6a8e0c7e-2222-4f00-8b11-abcdefabcdef",
		IssuedAt:  time.Unix(clock.Unix(-10*time.Second), 0),
		ExpiresAt: time.Unix(clock.Unix(time.Hour), 0),
	}
	if fmt.Sprint(p) != fmt.Sprint(want) || !p.IssuedAt.Equal(want.IssuedAt) || !p.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("Principal =\n %+v, want\n %+v", p, want)
	}
	if !p.HasScope("aws.cognito.signin.user.admin") || p.HasScope("openid") {
		t.Errorf("HasScope wrong for %v", p.Scopes)
	}
	if n := s.fetches.Load(); n != 1 {
		t.Errorf("key set fetched %d times, want 1 (at NewVerifier)", n)
	}

	owner, err := v.Authenticate(t.Context(), rs256("key-a", claims))
	if err != nil || owner != want.Sub {
		t.Errorf("Authenticate = %q, %v; want %q", owner, err, want.Sub)
	}
	if owner, err := v.Authenticate(t.Context(), "x.y.z"); owner != "" || !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("Authenticate(bad) = %q, %v; want \"\", %v", owner, err, ErrTokenInvalid)
	}
}

// TestVerifyRejects is the attacker's table: every token here must be
// refused as the user's fault (401), with a message that doesn't echo it.
func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, "key-a")
	// Keys a pool must never verify with, served next to the real one.
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	keyA := &testKey("key-a").PublicKey
	s.setRawKeys(
		rsaJWK("key-a", keyA),
		map[string]any{"kty": "oct", "kid": "oct-key", "alg": "HS256", "k": b64([]byte("shared secret"))},
		rsaJWK("weak-key", &weak.PublicKey),
		with(rsaJWK("rs512-key", &testKey("key-b").PublicKey), map[string]any{"alg": "RS512"}),
		with(rsaJWK("enc-key", &testKey("key-c").PublicKey), map[string]any{"use": "enc"}),
	)
	clock := newFakeClock()
	v := newTestVerifier(t, s, clock)
	good := accessClaims(s, clock)
	rsHeader := map[string]any{"alg": "RS256", "kid": "key-a"}

	// Key-confusion secrets: the bytes of the public key a server might
	// feed to HMAC if it trusted the header's alg.
	der, err := x509.MarshalPKIXPublicKey(keyA)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkBytes := mustJSON(rsaJWK("key-a", keyA))

	valid := rs256("key-a", good)
	parts := strings.Split(valid, ".")

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"expired beyond the leeway", rs256("key-a", with(good, map[string]any{"exp": clock.Unix(-61 * time.Second)})), ErrTokenExpired},
		{"long expired", rs256("key-a", with(good, map[string]any{"iat": clock.Unix(-48 * time.Hour), "exp": clock.Unix(-47 * time.Hour)})), ErrTokenExpired},
		{"not yet valid (nbf)", rs256("key-a", with(good, map[string]any{"nbf": clock.Unix(2 * time.Minute)})), ErrTokenInvalid},
		{"issued in the future", rs256("key-a", with(good, map[string]any{"iat": clock.Unix(2 * time.Minute)})), ErrTokenInvalid},
		{"no exp", rs256("key-a", with(good, map[string]any{"exp": nil})), ErrTokenInvalid},
		{"no iat", rs256("key-a", with(good, map[string]any{"iat": nil})), ErrTokenInvalid},
		{"other pool's issuer", rs256("key-a", with(good, map[string]any{"iss": EndpointIssuer(s.URL, "us-east-1_OtherPool")})), ErrTokenInvalid},
		{"AWS issuer of another region", rs256("key-a", with(good, map[string]any{"iss": AWSIssuer("eu-west-1", testPool)})), ErrTokenInvalid},
		{"issuer with a trailing slash", rs256("key-a", with(good, map[string]any{"iss": s.issuer() + "/"})), ErrTokenInvalid},
		{"no issuer", rs256("key-a", with(good, map[string]any{"iss": nil})), ErrTokenInvalid},
		{"ID token", rs256("key-a", with(good, map[string]any{"token_use": "id", "aud": testClientID, "client_id": nil})), ErrIDToken},
		{"ID token with a client_id too", rs256("key-a", with(good, map[string]any{"token_use": "id"})), ErrIDToken},
		{"no token_use", rs256("key-a", with(good, map[string]any{"token_use": nil})), ErrTokenInvalid},
		{"token_use refresh", rs256("key-a", with(good, map[string]any{"token_use": "refresh"})), ErrTokenInvalid},
		{"token_use of the wrong type", rs256("key-a", with(good, map[string]any{"token_use": []string{"access"}})), ErrTokenInvalid},
		{"app client not allowed", rs256("key-a", with(good, map[string]any{"client_id": "someone-elses-app"})), ErrTokenInvalid},
		{"no client_id", rs256("key-a", with(good, map[string]any{"client_id": nil})), ErrTokenInvalid},
		{"no sub", rs256("key-a", with(good, map[string]any{"sub": nil})), ErrTokenInvalid},
		{"empty sub", rs256("key-a", with(good, map[string]any{"sub": ""})), ErrTokenInvalid},

		{"alg none, empty signature", b64(mustJSON(map[string]any{"alg": "none", "kid": "key-a"})) + "." + b64(mustJSON(good)) + ".", ErrTokenInvalid},
		{"alg none with a signature", b64(mustJSON(map[string]any{"alg": "none", "kid": "key-a"})) + "." + b64(mustJSON(good)) + "." + parts[2], ErrTokenInvalid},
		{"alg none, RS256 signature of the same input", signRS(map[string]any{"alg": "none", "kid": "key-a"}, good, testKey("key-a"), crypto.SHA256), ErrTokenInvalid},
		{"no alg", signRS(map[string]any{"kid": "key-a"}, good, testKey("key-a"), crypto.SHA256), ErrTokenInvalid},
		{"HS256 with a guessed secret", hs256(map[string]any{"alg": "HS256", "kid": "key-a"}, good, []byte("secret")), ErrTokenInvalid},
		{"HS256 keyed with the public key PEM", hs256(map[string]any{"alg": "HS256", "kid": "key-a"}, good, pemBytes), ErrTokenInvalid},
		{"HS256 keyed with the public key DER", hs256(map[string]any{"alg": "HS256", "kid": "key-a"}, good, der), ErrTokenInvalid},
		{"HS256 keyed with the public JWK", hs256(map[string]any{"alg": "HS256", "kid": "key-a"}, good, jwkBytes), ErrTokenInvalid},
		{"HS256 keyed with the modulus", hs256(map[string]any{"alg": "HS256", "kid": "key-a"}, good, keyA.N.Bytes()), ErrTokenInvalid},
		{"HS256 with a symmetric key from the key set", hs256(map[string]any{"alg": "HS256", "kid": "oct-key"}, good, []byte("shared secret")), ErrTokenInvalid},
		{"RS256 naming the symmetric key", signRS(map[string]any{"alg": "RS256", "kid": "oct-key"}, good, testKey("key-a"), crypto.SHA256), ErrTokenInvalid},
		{"RS512 by the right key", signRS(map[string]any{"alg": "RS512", "kid": "key-a"}, good, testKey("key-a"), crypto.SHA512), ErrTokenInvalid},
		{"RS512 by a key published for RS512", signRS(map[string]any{"alg": "RS512", "kid": "rs512-key"}, good, testKey("key-b"), crypto.SHA512), ErrTokenInvalid},
		{"RS256 by a key published for RS512", signRS(map[string]any{"alg": "RS256", "kid": "rs512-key"}, good, testKey("key-b"), crypto.SHA256), ErrTokenInvalid},
		{"RS256 by a key published for encryption", signRS(map[string]any{"alg": "RS256", "kid": "enc-key"}, good, testKey("key-c"), crypto.SHA256), ErrTokenInvalid},
		{"RS256 by a 1024-bit key of the set", signRS(map[string]any{"alg": "RS256", "kid": "weak-key"}, good, weak, crypto.SHA256), ErrTokenInvalid},
		{"lower-case alg", signRS(map[string]any{"alg": "rs256", "kid": "key-a"}, good, testKey("key-a"), crypto.SHA256), ErrTokenInvalid},
		{"signed by another key under our kid", signRS(rsHeader, good, testKey("key-b"), crypto.SHA256), ErrTokenInvalid},
		{"no kid", signRS(map[string]any{"alg": "RS256"}, good, testKey("key-a"), crypto.SHA256), ErrTokenInvalid},
		{"embedded jwk header", signRS(map[string]any{"alg": "RS256", "kid": "key-x", "jwk": rsaJWK("key-x", &testKey("key-b").PublicKey)}, good, testKey("key-b"), crypto.SHA256), ErrTokenInvalid},
		{"tampered payload", parts[0] + "." + b64(mustJSON(with(good, map[string]any{"sub": "someone-else"}))) + "." + parts[2], ErrTokenInvalid},
		{"tampered header", b64(mustJSON(map[string]any{"alg": "RS256", "kid": "key-a", "typ": "JWT"})) + "." + parts[1] + "." + parts[2], ErrTokenInvalid},
		{"truncated signature", valid[:len(valid)-4], ErrTokenInvalid},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(rs256("key-a", with(good, map[string]any{"jti": "x"})), ".")[2], ErrTokenInvalid},

		{"empty", "", ErrTokenInvalid},
		{"one part", "abc", ErrTokenInvalid},
		{"two parts", parts[0] + "." + parts[1], ErrTokenInvalid},
		{"four parts", valid + ".AAAA", ErrTokenInvalid},
		{"five parts (JWE shape)", "a.b.c.d.e", ErrTokenInvalid},
		{"empty middle", parts[0] + ".." + parts[2], ErrTokenInvalid},
		{"padding", parts[0] + "." + parts[1] + "==." + parts[2], ErrTokenInvalid},
		{"standard base64", strings.ReplaceAll(valid, "-", "+"), ErrTokenInvalid},
		{"whitespace", valid + " ", ErrTokenInvalid},
		{"Bearer prefix left on", "Bearer " + valid, ErrTokenInvalid},
		{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, ErrTokenInvalid},
		{"garbage", "not.a.token", ErrTokenInvalid},
		{"header not JSON", b64([]byte("hello")) + "." + parts[1] + "." + parts[2], ErrTokenInvalid},
		{"payload not JSON", parts[0] + "." + b64([]byte("[1,2")) + "." + parts[2], ErrTokenInvalid},
		{"too long", parts[0] + "." + strings.Repeat("A", maxTokenBytes) + "." + parts[2], ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := v.Verify(t.Context(), tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", p)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error = %v\nwant %v", err, tt.want)
			}
			if k := jobs.KindOf(err); k != jobs.KindUnauthorized {
				t.Errorf("kind = %s, want %s", k, jobs.KindUnauthorized)
			}
			if p.Sub != "" || p.ClientID != "" {
				t.Errorf("a rejected token still gave a Principal: %+v", p)
			}
			assertNoTokenIn(t, err, tt.token)
			t.Log(err)
		})
	}
}

// assertNoTokenIn fails if err's text contains token or its signature.
func assertNoTokenIn(t *testing.T, err error, token string) {
	t.Helper()
	msg := err.Error()
	if token != "" && len(token) > 20 && strings.Contains(msg, token) {
		t.Errorf("error text contains the token: %s", msg)
	}
	if parts := strings.Split(token, "."); len(parts) == 3 && len(parts[2]) > 20 && strings.Contains(msg, parts[2]) {
		t.Errorf("error text contains the token's signature: %s", msg)
	}
}

func TestVerifyLeeway(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, "key-a")
	clock := newFakeClock()
	v := newTestVerifier(t, s, clock)
	good := accessClaims(s, clock)
	tests := []struct {
		name   string
		claims map[string]any
	}{
		{"expired 30 s ago", with(good, map[string]any{"exp": clock.Unix(-30 * time.Second)})},
		{"not before 30 s from now", with(good, map[string]any{"nbf": clock.Unix(30 * time.Second)})},
		{"issued 30 s in the future", with(good, map[string]any{"iat": clock.Unix(30 * time.Second)})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := v.Verify(t.Context(), rs256("key-a", tt.claims)); err != nil {
				t.Errorf("Verify within the 60 s leeway: %v", err)
			}
		})
	}
}

func TestVerifyUnknownKidRefetchesOnceThenRejects(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, "key-a")
	clock := newFakeClock()
	v := newTestVerifier(t, s, clock)
	claims := accessClaims(s, clock)

	// Right after the first fetch, an unknown kid doesn't fetch again.
	if _, err := v.Verify(t.Context(), rs256("key-b", claims)); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("unknown kid: err = %v, want %v", err, ErrTokenInvalid)
	}
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1: refreshed within MinRefreshInterval", n)
	}

	clock.Advance(DefaultMinRefreshInterval)
	for i := range 3 {
		if _, err := v.Verify(t.Context(), rs256("key-b", claims)); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("unknown kid, try %d: err = %v, want %v", i, err, ErrTokenInvalid)
		}
	}
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2 (one refetch for three unknown-kid tokens)", n)
	}
	// Known keys keep working without fetches.
	if _, err := v.Verify(t.Context(), rs256("key-a", claims)); err != nil {
		t.Errorf("known kid: %v", err)
	}
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d after a known kid, want 2", n)
	}
}

func TestVerifyBoundsRefetchesUnderAFloodOfRandomKids(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, "key-a")
	clock := newFakeClock()
	v := newTestVerifier(t, s, clock)
	claims := accessClaims(s, clock)
	goodToken := rs256("key-a", claims)

	// Sign once and swap kids in the header: the signature doesn't matter,
	// the key lookup happens first.
	forged := make([]string, 200)
	for i := range forged {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		forged[i] = signRS(map[string]any{"alg": "RS256", "kid": hex.EncodeToString(b)}, claims, testKey("key-b"), crypto.SHA256)
	}

	for round := range 3 {
		clock.Advance(DefaultMinRefreshInterval) // each round may refresh once
		var wg sync.WaitGroup
		errs := make(chan error, len(forged)+50)
		for _, tok := range forged {
			wg.Go(func() {
				if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrTokenInvalid) {
					errs <- fmt.Errorf("forged kid: %v", err)
				}
			})
		}
		for range 50 {
			wg.Go(func() {
				if _, err := v.Verify(t.Context(), goodToken); err != nil {
					errs <- fmt.Errorf("good token during the flood: %v", err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n, want := s.fetches.Load(), int64(round+2); n != want {
			t.Fatalf("round %d: fetches = %d, want %d (one per interval)", round, n, want)
		}
	}
}

func TestVerifyAcceptsARotatedKeyAfterRefresh(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, "key-a")
	clock := newFakeClock()
	v := newTestVerifier(t, s, clock)
	claims := accessClaims(s, clock)

	// The pool publishes key-b and starts signing with it.
	s.setKeys("key-a", "key-b")
	clock.Advance(DefaultMinRefreshInterval)
	if _, err := v.Verify(t.Context(), rs256("key-b", claims)); err != nil {
		t.Fatalf("token signed with the new key: %v", err)
	}
	if _, err := v.Verify(t.Context(), rs256("key-a", claims)); err != nil {
		t.Errorf("token signed with the old key: %v", err)
	}
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2", n)
	}
}

func TestVerifyRefreshesAnOldKeySet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(s *jwksServer)
		wantErr error // for a token of key-a after the change
	}{
		{"withdrawn key stops verifying", func(s *jwksServer) { s.setKeys("key-b") }, ErrTokenInvalid},
		{"kept key still verifies", func(s *jwksServer) { s.setKeys("key-a", "key-b") }, nil},
		{"old set kept while Cognito fails", func(s *jwksServer) { s.status.Store(http.StatusInternalServerError) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newJWKSServer(t, "key-a")
			clock := newFakeClock()
			v := newTestVerifier(t, s, clock)
			tt.change(s)
			clock.Advance(DefaultMaxKeySetAge)
			claims := accessClaims(s, clock)
			_, err := v.Verify(t.Context(), rs256("key-a", claims))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Verify: err = %v, want %v", err, tt.wantErr)
			}
			if n := s.fetches.Load(); n != 2 {
				t.Errorf("fetches = %d, want 2", n)
			}
		})
	}
}

func TestVerifyDoesNotWaitForASlowRefreshOfAnOldKeySet(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, "key-a")
	clock := newFakeClock()
	v := newTestVerifier(t, s, clock)
	clock.Advance(DefaultMaxKeySetAge)
	token := rs256("key-a", accessClaims(s, clock))

	release := s.hold(t)
	first := make(chan error, 1)
	go func() { _, err := v.Verify(context.Background(), token); first <- err }()
	s.waitForFetches(t, 2) // the first request is now refreshing, and stuck

	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := v.Verify(ctx, token); err != nil {
		t.Errorf("Verify during the slow refresh: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Verify took %v: it waited for the refresh", d)
	}
	release()
	if err := <-first; err != nil {
		t.Errorf("Verify that refreshed: %v", err)
	}
}

func TestVerifyUnknownKidsShareOneFetch(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, "key-a")
	clock := newFakeClock()
	v := newTestVerifier(t, s, clock)
	clock.Advance(DefaultMinRefreshInterval)
	token := rs256("key-b", accessClaims(s, clock))

	release := s.hold(t)
	s.setKeys("key-a", "key-b")
	errs := make(chan error, 10)
	go func() { _, err := v.Verify(context.Background(), token); errs <- err }()
	s.waitForFetches(t, 2)
	for range 9 { // these wait for the fetch in flight and use its result
		go func() { _, err := v.Verify(context.Background(), token); errs <- err }()
	}
	time.Sleep(50 * time.Millisecond) // let them queue up behind it
	release()
	for range 10 {
		if err := <-errs; err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2", n)
	}
}

func TestVerifyReportsAnUnreachableKeySetAsUnavailable(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, "key-a")
	clock := newFakeClock()
	v := newTestVerifier(t, s, clock)
	claims := accessClaims(s, clock)

	s.status.Store(http.StatusServiceUnavailable)
	clock.Advance(DefaultMinRefreshInterval)
	for i := range 3 { // the first fetches and fails; the others reuse that answer
		_, err := v.Verify(t.Context(), rs256("key-b", claims))
		if !errors.Is(err, ErrCognitoUnavailable) || jobs.KindOf(err) != jobs.KindUnavailable {
			t.Errorf("try %d: unknown kid while the key set fails: err = %v, want %v", i, err, ErrCognitoUnavailable)
		}
	}
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2", n)
	}
	if _, err := v.Verify(t.Context(), rs256("key-a", claims)); err != nil {
		t.Errorf("known kid while the key set fails: %v", err)
	}

	// Cognito is back, and key-b was published meanwhile.
	s.status.Store(0)
	s.setKeys("key-a", "key-b")
	clock.Advance(DefaultMinRefreshInterval)
	if _, err := v.Verify(t.Context(), rs256("key-b", claims)); err != nil {
		t.Errorf("after recovery: %v", err)
	}
}

func TestNewVerifier(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, "key-a")
	broken := newJWKSServer(t, "key-a")
	broken.status.Store(http.StatusNotFound)
	empty := newJWKSServer(t)

	tests := []struct {
		name     string
		cfg      VerifierConfig
		wantKind jobs.Kind // "" for a config error (no kind)
		wantText string
	}{
		{"no issuer", VerifierConfig{ClientIDs: []string{"c"}}, "", "Issuer"},
		{"relative issuer", VerifierConfig{Issuer: "/pool", ClientIDs: []string{"c"}}, "", "not an absolute URL"},
		{"plain http off loopback", VerifierConfig{Issuer: "http://cognito.example.com/pool", ClientIDs: []string{"c"}}, "", "loopback"},
		{"plain http JWKS off loopback", VerifierConfig{Issuer: s.issuer(), JWKSURL: "http://example.com/jwks.json", ClientIDs: []string{"c"}}, "", "loopback"},
		{"ftp", VerifierConfig{Issuer: "ftp://127.0.0.1/pool", ClientIDs: []string{"c"}}, "", "https"},
		{"no client ids", VerifierConfig{Issuer: s.issuer()}, "", "ClientIDs"},
		{"empty client id", VerifierConfig{Issuer: s.issuer(), ClientIDs: []string{""}}, "", "ClientIDs"},
		{"key set not found", VerifierConfig{Issuer: broken.issuer(), ClientIDs: []string{"c"}}, jobs.KindUnavailable, "404"},
		{"key set without usable keys", VerifierConfig{Issuer: empty.issuer(), ClientIDs: []string{"c"}}, jobs.KindUnavailable, "no RS256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewVerifier(t.Context(), tt.cfg)
			if err == nil {
				t.Fatalf("NewVerifier succeeded: %+v", v)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			var je *jobs.Error
			if isJobs := errors.As(err, &je); tt.wantKind != "" && (!isJobs || je.Kind != tt.wantKind) {
				t.Errorf("error %v: want kind %s", err, tt.wantKind)
			}
		})
	}

	t.Run("explicit JWKS URL and client", func(t *testing.T) {
		t.Parallel()
		v, err := NewVerifier(t.Context(), VerifierConfig{
			Issuer:     "https://cognito-idp.us-east-1.amazonaws.com/" + testPool,
			JWKSURL:    s.URL + "/" + testPool + "/.well-known/jwks.json",
			ClientIDs:  []string{testClientID},
			HTTPClient: &http.Client{Timeout: time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		clock := newFakeClock()
		claims := with(accessClaims(s, clock), map[string]any{
			"iss": AWSIssuer("us-east-1", testPool),
			"iat": time.Now().Add(-time.Minute).Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		})
		if _, err := v.Verify(t.Context(), rs256("key-a", claims)); err != nil {
			t.Errorf("Verify with the real clock: %v", err)
		}
	})
}

func TestIssuers(t *testing.T) {
	t.Parallel()
	if got, want := AWSIssuer("eu-central-1", "eu-central-1_AbC"), "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_AbC"; got != want {
		t.Errorf("AWSIssuer = %q, want %q", got, want)
	}
	if got, want := EndpointIssuer("http://127.0.0.1:9229/", "local_x"), "http://127.0.0.1:9229/local_x"; got != want {
		t.Errorf("EndpointIssuer = %q, want %q", got, want)
	}
}

func BenchmarkVerify(b *testing.B) {
	s := newJWKSServer(b, "key-a", "key-b")
	clock := newFakeClock()
	v := newTestVerifier(b, s, clock)
	token := rs256("key-a", accessClaims(s, clock))
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
	if n := s.fetches.Load(); n != 1 {
		b.Fatalf("fetches = %d, want 1", n)
	}
}
