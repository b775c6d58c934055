package cognito

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Defaults of [VerifierConfig]; documented on its fields.
const (
	DefaultLeeway             = 60 * time.Second
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultMaxKeySetAge       = time.Hour
	DefaultFetchTimeout       = 5 * time.Second
)

// maxTokenBytes bounds the input we are willing to parse. Cognito access
// tokens are about 1 KB (more with many groups or scopes).
const maxTokenBytes = 16 << 10

// AWSIssuer returns the issuer of the tokens of user pool poolID in region,
// as Cognito writes it in the iss claim:
// https://cognito-idp.<region>.amazonaws.com/<poolID>.
func AWSIssuer(region, poolID string) string {
	return "https://cognito-idp." + region + ".amazonaws.com/" + poolID
}

// EndpointIssuer returns the issuer of pool poolID for a Cognito-compatible
// endpoint such as cognito-local ("http://127.0.0.1:9229" gives
// "http://127.0.0.1:9229/<poolID>").
func EndpointIssuer(endpoint, poolID string) string {
	return strings.TrimRight(endpoint, "/") + "/" + poolID
}

// VerifierConfig configures a [Verifier]. Issuer and ClientIDs are required.
type VerifierConfig struct {
	// Issuer is the pool's issuer URL, compared exactly with the iss
	// claim: [AWSIssuer] in AWS, [EndpointIssuer] for cognito-local. It
	// must be https, or http on a loopback host (local stand-ins only).
	Issuer string
	// JWKSURL is where the pool publishes its keys. Default:
	// Issuer + "/.well-known/jwks.json".
	JWKSURL string
	// ClientIDs are the app clients whose tokens are accepted (client_id
	// claim). A token issued to any other app of the pool is rejected.
	ClientIDs []string
	// HTTPClient fetches the key set. Default: jwx's fetch client (with a
	// timeout and no https→http redirects).
	HTTPClient *http.Client
	// Leeway tolerated on exp, iat and nbf for clock skew. Default 60 s;
	// negative means none.
	Leeway time.Duration
	// MinRefreshInterval is the least time between two fetches of the key
	// set caused by tokens with unknown key ids. Default 30 s.
	MinRefreshInterval time.Duration
	// MaxKeySetAge: a key set older than this is fetched again on use (so
	// withdrawn keys stop verifying); if that fails the old set is kept.
	// Default 1 h.
	MaxKeySetAge time.Duration
	// FetchTimeout bounds one fetch of the key set. Default 5 s.
	FetchTimeout time.Duration
	// Now is the clock for token lifetimes and refresh intervals. Default
	// time.Now; tests inject their own.
	Now func() time.Time
	// Logger receives key-set fetch events (never tokens). Default: none.
	Logger *slog.Logger
}

// Principal is the verified identity behind an access token.
type Principal struct {
	// Sub is the user's immutable id in the pool; it owns the user's jobs.
	Sub string
	// Username is the user's name in the pool (for pools that sign in
	// with an email address, Cognito puts the sub here too). For display
	// and logs only: unlike Sub, it may be reused after a user is deleted.
	Username string
	// ClientID is the app client the token was issued to.
	ClientID string
	// Scopes are the token's OAuth scopes ("aws.cognito.signin.user.admin"
	// for tokens from InitiateAuth).
	Scopes []string
	// Groups are the user's cognito:groups, if any.
	Groups []string
	// TokenID is the token's jti, unique per token.
	TokenID string
	// IssuedAt and ExpiresAt bound the token's lifetime.
	IssuedAt, ExpiresAt time.Time
}

// HasScope reports whether the token carries scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Verifier verifies Cognito access tokens of one user pool locally. It is
// safe for concurrent use.
type Verifier struct {
	clientIDs map[string]bool
	keys      *keySource
	// parseOpts are the jwt.Parse options every token gets; Verify adds
	// its own key provider.
	parseOpts []jwt.ParseOption
}

// NewVerifier checks cfg and fetches the pool's key set once, within ctx.
// A key set that can't be fetched is an error here (of kind unavailable),
// so that a wrong pool id or region shows at start-up rather than as a
// failure of every request. ctx bounds only this first fetch; the Verifier
// has no background goroutines and needs no Close.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	if err := checkIssuerURL("Issuer", cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = strings.TrimRight(cfg.Issuer, "/") + "/.well-known/jwks.json"
	}
	if err := checkIssuerURL("JWKSURL", cfg.JWKSURL); err != nil {
		return nil, err
	}
	if len(cfg.ClientIDs) == 0 {
		return nil, errors.New("cognito: VerifierConfig.ClientIDs is empty; no token could ever be accepted")
	}
	clientIDs := make(map[string]bool, len(cfg.ClientIDs))
	for _, id := range cfg.ClientIDs {
		if id == "" {
			return nil, errors.New("cognito: VerifierConfig.ClientIDs contains an empty id")
		}
		clientIDs[id] = true
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0:
		cfg.Leeway = 0
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.MaxKeySetAge <= 0 {
		cfg.MaxKeySetAge = DefaultMaxKeySetAge
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	v := &Verifier{
		clientIDs: clientIDs,
		keys: newKeySource(cfg.JWKSURL, cfg.HTTPClient, cfg.Now,
			cfg.MinRefreshInterval, cfg.MaxKeySetAge, cfg.FetchTimeout, cfg.Logger),
		parseOpts: []jwt.ParseOption{
			jwt.WithValidate(true),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAcceptableSkew(cfg.Leeway),
			jwt.WithClock(jwt.ClockFunc(cfg.Now)),
			// Cognito always sets these; a token without them is not one
			// of its access tokens, and without exp it would never expire.
			jwt.WithRequiredClaim(jwt.ExpirationKey),
			jwt.WithRequiredClaim(jwt.IssuedAtKey),
			jwt.WithRequiredClaim(jwt.SubjectKey),
		},
	}
	if _, err := v.keys.refresh(ctx, nil, refreshFirst); err != nil {
		return nil, fmt.Errorf("cognito: first fetch of the key set: %w", err)
	}
	return v, nil
}

// checkIssuerURL allows https, and plain http only on loopback hosts where
// cognito-local runs: keys fetched over plain http from anywhere else could
// be swapped in transit.
func checkIssuerURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("cognito: VerifierConfig.%s %q is not an absolute URL", field, s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("cognito: VerifierConfig.%s %q: plain http is allowed only on loopback hosts", field, s)
	default:
		return fmt.Errorf("cognito: VerifierConfig.%s %q must be an https URL", field, s)
	}
}

// Verify checks token and returns who it belongs to. Its errors are
// *jobs.Error: kind unauthorized for a token that is not a valid, current
// access token of this pool and its app clients ([ErrTokenInvalid],
// [ErrTokenExpired], [ErrIDToken]), kind unavailable ([ErrCognitoUnavailable])
// when the key needed to check it could not be fetched.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	if err := checkCompact(token); err != nil {
		return Principal{}, withCause(ErrTokenInvalid, err)
	}
	kp := &keyProvider{ctx: ctx, keys: v.keys}
	opts := append(v.parseOpts[:len(v.parseOpts):len(v.parseOpts)], jwt.WithKeyProvider(kp))
	tok, err := jwt.Parse([]byte(token), opts...)
	if err != nil {
		switch {
		case kp.err != nil:
			// Our key provider refused (alg, kid) or couldn't get the key;
			// it knows whether that is the token's fault.
			return Principal{}, kp.err
		case errors.Is(err, jwt.TokenExpiredError()):
			return Principal{}, withCause(ErrTokenExpired, err)
		default:
			return Principal{}, withCause(ErrTokenInvalid, err)
		}
	}
	// Signature, issuer and lifetime are good; now the Cognito claims.
	return v.principal(tok)
}

// Authenticate verifies token and returns its owner, the sub. It lets a
// *Verifier serve where only the caller's id matters (httpapi's
// Authenticator).
func (v *Verifier) Authenticate(ctx context.Context, token string) (string, error) {
	p, err := v.Verify(ctx, token)
	return p.Sub, err
}

// principal checks the claims Cognito adds to its access tokens and builds
// the Principal.
func (v *Verifier) principal(tok jwt.Token) (Principal, error) {
	var tokenUse string
	if err := tok.Get("token_use", &tokenUse); err != nil {
		return Principal{}, withCause(ErrTokenInvalid, errors.New("no token_use claim of type string"))
	}
	switch tokenUse {
	case "access":
	case "id":
		// ID tokens carry the same sub, but they are meant for the client
		// to learn who signed in, not to call APIs; their aud, not a
		// client_id, names the app.
		return Principal{}, withCause(ErrIDToken, errors.New(`token_use is "id"`))
	default:
		return Principal{}, withCause(ErrTokenInvalid, fmt.Errorf("token_use is %q", tokenUse))
	}
	var p Principal
	if err := tok.Get("client_id", &p.ClientID); err != nil || !v.clientIDs[p.ClientID] {
		return Principal{}, withCause(ErrTokenInvalid, fmt.Errorf("client_id %q is not an accepted app client", p.ClientID))
	}
	p.Sub, _ = tok.Subject()
	if p.Sub == "" {
		return Principal{}, withCause(ErrTokenInvalid, errors.New("empty sub claim"))
	}
	_ = tok.Get("username", &p.Username) // optional
	p.TokenID, _ = tok.JwtID()
	p.IssuedAt, _ = tok.IssuedAt()
	p.ExpiresAt, _ = tok.Expiration()
	var scope string
	if tok.Get("scope", &scope) == nil {
		p.Scopes = strings.Fields(scope)
	}
	var groups []any
	if tok.Get("cognito:groups", &groups) == nil {
		for _, g := range groups {
			if s, ok := g.(string); ok {
				p.Groups = append(p.Groups, s)
			}
		}
	}
	return p, nil
}

// checkCompact accepts only the JWS compact form, three non-empty base64url
// parts, before any parsing: jwt.Parse also understands JSON serializations
// (with several signatures) and JWE, neither of which Cognito issues, and an
// empty third part is the shape of an unsigned ("alg":"none") token.
func checkCompact(token string) error {
	if len(token) > maxTokenBytes {
		return fmt.Errorf("token is %d bytes, more than %d", len(token), maxTokenBytes)
	}
	if strings.Count(token, ".") != 2 {
		return errors.New("token is not in JWS compact form (three dot-separated parts)")
	}
	for part := range strings.SplitSeq(token, ".") {
		if part == "" {
			return errors.New("token has an empty part")
		}
		for i := 0; i < len(part); i++ {
			switch c := part[i]; {
			case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				return errors.New("token has characters outside base64url")
			}
		}
	}
	return nil
}

// keyProvider hands jwx the one key a token may be verified with, and
// decides the algorithm itself: RS256, whatever the header claims beyond
// that. Tokens with alg "none", HS256 (including HS256 keyed with the
// public key's bytes, the classic key-confusion attack) or any other alg
// get no key at all.
type keyProvider struct {
	ctx  context.Context // the request's; jwx passes its own
	keys *keySource
	err  error // why no key was given, for Verify to report
}

var _ jws.KeyProvider = (*keyProvider)(nil)

func (kp *keyProvider) FetchKeys(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	h := sig.ProtectedHeaders()
	alg, ok := h.Algorithm()
	if !ok || alg.String() != jwa.RS256().String() {
		kp.err = withCause(ErrTokenInvalid, fmt.Errorf("alg %q is not RS256", alg.String()))
		return kp.err
	}
	kid, ok := h.KeyID()
	if !ok || kid == "" {
		kp.err = withCause(ErrTokenInvalid, errors.New("token has no kid"))
		return kp.err
	}
	key, err := kp.keys.key(kp.ctx, kid)
	if err != nil {
		kp.err = err
		return err
	}
	sink.Key(jwa.RS256(), key)
	return nil
}
