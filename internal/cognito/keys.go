package cognito

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// minRSABits: Cognito's keys are 2048-bit; anything smaller in the set is
// not a key we want to trust.
const minRSABits = 2048

// maxKeySetBytes bounds the key set response. Cognito's is about 1 KB.
const maxKeySetBytes = 1 << 20

// errUnknownKey is the cause when a token names a key the pool's set does
// not have (after a refresh, or while refreshing is rate-limited).
var errUnknownKey = errors.New("the token's key id is not in the pool's key set")

// keySource holds the pool's RS256 verification keys by key id, fetched
// from the JWKS URL with jwk.Fetch and refreshed at a bounded rate.
//
// It is a small cache of its own rather than jwk.Cache because what it must
// guarantee is the rate bound on refreshes triggered by tokens (jwk.Cache's
// Refresh always fetches), and it needs no background goroutines (which a
// Lambda freezes between invocations anyway).
type keySource struct {
	url        string
	client     *http.Client
	now        func() time.Time
	minRefresh time.Duration
	maxAge     time.Duration
	timeout    time.Duration
	log        *slog.Logger

	keys atomic.Pointer[keySnapshot] // read on every Verify without locking

	// sem (capacity 1) serializes fetches; a channel rather than a mutex so
	// waiting callers can give up when their context ends.
	sem chan struct{}
	// Guarded by sem.
	lastAttempt time.Time
	lastErr     error // the last attempt's failure, nil if it succeeded
}

// keySnapshot is one fetched key set; never modified after it is stored.
type keySnapshot struct {
	byKID   map[string]*rsa.PublicKey
	fetched time.Time
}

func newKeySource(url string, client *http.Client, now func() time.Time, minRefresh, maxAge, timeout time.Duration, log *slog.Logger) *keySource {
	if client == nil {
		client = &http.Client{}
	}
	ks := &keySource{
		url: url,
		// jwx's hardening: a timeout if the client has none, and no
		// redirects from https to plain http.
		client:     jwk.WrapHTTPClientDefaults(client),
		now:        now,
		minRefresh: minRefresh,
		maxAge:     maxAge,
		timeout:    timeout,
		log:        log,
		sem:        make(chan struct{}, 1),
	}
	return ks
}

// key returns the verification key with id kid. Its errors are *jobs.Error:
// unauthorized when the set has no such key, unavailable when the set could
// not be fetched.
func (ks *keySource) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	snap := ks.keys.Load()
	if snap != nil {
		if k, ok := snap.byKID[kid]; ok {
			if ks.now().Sub(snap.fetched) < ks.maxAge {
				return k, nil
			}
			// The set is old: look again so withdrawn keys stop working,
			// but keep using what we have if Cognito can't be reached.
			fresh, err := ks.refresh(ctx, snap, refreshStale)
			if err != nil || fresh == nil {
				return k, nil
			}
			if k, ok := fresh.byKID[kid]; ok {
				return k, nil
			}
			return nil, withCause(ErrTokenInvalid, errUnknownKey)
		}
	}
	// Unknown key id: the pool may have rotated its keys since we fetched.
	fresh, err := ks.refresh(ctx, snap, refreshUnknownKey)
	if err != nil {
		return nil, err
	}
	if fresh != nil {
		if k, ok := fresh.byKID[kid]; ok {
			return k, nil
		}
	}
	return nil, withCause(ErrTokenInvalid, errUnknownKey)
}

// Why a refresh is wanted, which decides how it waits and fetches.
type refreshReason int

const (
	// refreshFirst: NewVerifier's fetch, cancelled with its ctx.
	refreshFirst refreshReason = iota
	// refreshUnknownKey: a token names a key we don't have; the caller
	// needs the answer, so it waits for a fetch in flight. The fetch is
	// not cancelled with ctx (only bounded by the fetch timeout): other
	// requests may be waiting for it, and one client hanging up should not
	// spend the refresh budget for everyone.
	refreshUnknownKey
	// refreshStale: the key is known but the set is old. If a fetch is in
	// flight already the caller doesn't wait for it and keeps its key, so
	// a slow Cognito doesn't slow every request down.
	refreshStale
)

// refresh fetches the key set again unless another caller did so after
// seen was loaded, or the last attempt was less than minRefresh ago. It
// returns the current set, and the error of the last attempt when that
// failed (so a caller can tell "no such key" from "couldn't look").
func (ks *keySource) refresh(ctx context.Context, seen *keySnapshot, why refreshReason) (*keySnapshot, error) {
	if why == refreshStale {
		select {
		case ks.sem <- struct{}{}:
		default:
			return seen, nil
		}
	} else {
		select {
		case ks.sem <- struct{}{}:
		case <-ctx.Done():
			return ks.keys.Load(), withCause(ErrCognitoUnavailable, fmt.Errorf("wait for the key set: %w", ctx.Err()))
		}
	}
	defer func() { <-ks.sem }()

	if cur := ks.keys.Load(); cur != seen {
		return cur, nil // fetched by someone else while we waited
	}
	now := ks.now()
	if !ks.lastAttempt.IsZero() && now.Sub(ks.lastAttempt) < ks.minRefresh {
		return seen, ks.lastErr
	}
	ks.lastAttempt = now
	fctx := ctx
	if why != refreshFirst {
		fctx = context.WithoutCancel(ctx)
	}
	snap, err := ks.fetch(fctx)
	if err != nil {
		ks.lastErr = withCause(ErrCognitoUnavailable, err)
		ks.log.WarnContext(ctx, "cognito: fetching the key set failed", "url", ks.url, "error", err)
		return seen, ks.lastErr
	}
	ks.lastErr = nil
	ks.keys.Store(snap)
	ks.log.InfoContext(ctx, "cognito: fetched the key set", "url", ks.url, "keys", len(snap.byKID))
	return snap, nil
}

// fetch gets the key set and keeps its usable keys.
func (ks *keySource) fetch(ctx context.Context) (*keySnapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, ks.timeout)
	defer cancel()
	// Not jwk.Fetch: it can't take the lenient parsing option below.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch key set %s: %w", ks.url, err)
	}
	res, err := ks.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch key set %s: status %d", ks.url, res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxKeySetBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch key set %s: %w", ks.url, err)
	}
	if len(body) > maxKeySetBytes {
		return nil, fmt.Errorf("fetch key set %s: more than %d bytes", ks.url, maxKeySetBytes)
	}
	// One entry jwx can't parse (a weak key, or a kind newer than this
	// release) must not cost us the others: lenient parsing keeps it as an
	// unsupported key, which usableKey skips.
	set, err := jwk.Parse(body, jwk.WithStrictKeySetParsing(false))
	if err != nil {
		return nil, fmt.Errorf("parse key set %s: %w", ks.url, err)
	}
	byKID := make(map[string]*rsa.PublicKey, set.Len())
	for i := range set.Len() {
		key, _ := set.Key(i)
		kid, pub, ok := usableKey(key)
		if !ok {
			continue
		}
		byKID[kid] = pub
	}
	if len(byKID) == 0 {
		return nil, fmt.Errorf("key set %s has no RS256 signing key", ks.url)
	}
	return &keySnapshot{byKID: byKID, fetched: ks.now()}, nil
}

// usableKey reports whether key is one we verify tokens with: an RSA public
// key of at least 2048 bits with a key id, meant for signatures (use "sig"
// or unset) and for RS256 (alg "RS256" or unset). Anything else in the set
// is skipped rather than trusted for an algorithm it wasn't published for.
func usableKey(key jwk.Key) (string, *rsa.PublicKey, bool) {
	kid, ok := key.KeyID()
	if !ok || kid == "" {
		return "", nil, false
	}
	if key.KeyType().String() != jwa.RSA().String() {
		return "", nil, false
	}
	if use, ok := key.KeyUsage(); ok && use != string(jwk.ForSignature) {
		return "", nil, false
	}
	if alg, ok := key.Algorithm(); ok && alg.String() != jwa.RS256().String() {
		return "", nil, false
	}
	// PublicKey: should a private key ever be published by mistake, only
	// its public half is kept.
	pk, err := key.PublicKey()
	if err != nil {
		return "", nil, false
	}
	var pub rsa.PublicKey
	if err := jwk.Export(pk, &pub); err != nil {
		return "", nil, false
	}
	if pub.N == nil || pub.N.BitLen() < minRSABits {
		return "", nil, false
	}
	return kid, &pub, true
}
