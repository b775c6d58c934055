package cognito

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/smithy-go"

	"github.com/promptq/promptq/internal/jobs"
)

// Defaults of [RevocationConfig].
const (
	DefaultRevocationTTL        = 60 * time.Second
	DefaultRevocationMaxEntries = 10_000
)

// userGetter is the one Cognito call the checker makes;
// *cognitoidentityprovider.Client satisfies it.
type userGetter interface {
	GetUser(ctx context.Context, in *cip.GetUserInput, optFns ...func(*cip.Options)) (*cip.GetUserOutput, error)
}

var _ userGetter = (*cip.Client)(nil)

// RevocationConfig configures a [RevocationChecker].
type RevocationConfig struct {
	// Enabled switches the check on. When off, Check accepts every token
	// without a call (the Verifier's checks still apply).
	Enabled bool
	// CacheTTL is how long a token Cognito accepted is taken as still good
	// without asking again: the longest a signed-out user can keep
	// spending. Default 60 s; negative disables the cache.
	CacheTTL time.Duration
	// MaxEntries bounds the cache. Default 10,000.
	MaxEntries int
	// Now is the cache's clock. Default time.Now.
	Now func() time.Time
}

// RevocationChecker asks Cognito (GetUser with the token itself) whether an
// access token still works: after GlobalSignOut, RevokeToken, or when the
// user is disabled or deleted, Cognito refuses a token whose signature and
// lifetime are still fine. It is one network call, so it is meant for the
// requests that spend money, after [Verifier.Verify] has accepted the token.
//
// A positive answer is cached for CacheTTL under the SHA-256 of the token:
// the cache never holds a token, so a heap dump can't replay one. Negative
// answers are not cached, so a token that was refused because Cognito was
// throttling works again as soon as Cognito does.
//
// It is safe for concurrent use.
type RevocationChecker struct {
	client  userGetter
	enabled bool
	ttl     time.Duration
	max     int
	now     func() time.Time

	mu   sync.Mutex
	good map[[sha256.Size]byte]time.Time // token hash → accepted until
}

// NewRevocationChecker returns a checker calling client. client may be nil
// only when cfg.Enabled is false.
func NewRevocationChecker(client userGetter, cfg RevocationConfig) (*RevocationChecker, error) {
	if cfg.Enabled && client == nil {
		return nil, errors.New("cognito: NewRevocationChecker: Enabled needs a Cognito client")
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultRevocationTTL
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultRevocationMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &RevocationChecker{
		client:  client,
		enabled: cfg.Enabled,
		ttl:     cfg.CacheTTL,
		max:     cfg.MaxEntries,
		now:     cfg.Now,
		good:    make(map[[sha256.Size]byte]time.Time),
	}, nil
}

// Check returns nil when Cognito still accepts token (or accepted it less
// than CacheTTL ago, or the check is disabled). Its errors are *jobs.Error:
// [ErrTokenRevoked] or [ErrTokenInvalid] (unauthorized) when Cognito refuses
// the token, [ErrCognitoUnavailable] when Cognito can't answer (throttling,
// its errors, the network), and kind internal for anything else.
func (c *RevocationChecker) Check(ctx context.Context, token string) error {
	if !c.enabled {
		return nil
	}
	key := sha256.Sum256([]byte(token))
	if c.ttl > 0 {
		c.mu.Lock()
		until, ok := c.good[key]
		c.mu.Unlock()
		if ok && c.now().Before(until) {
			return nil
		}
	}
	if _, err := c.client.GetUser(ctx, &cip.GetUserInput{AccessToken: aws.String(token)}); err != nil {
		return classifyGetUser(err)
	}
	if c.ttl > 0 {
		c.remember(key)
	}
	return nil
}

// remember caches a positive answer, making room first if the cache is
// full: expired entries go, then, if still full, a tenth of the entries
// (any, since Go's map order is random); evicting costs only a repeated
// GetUser for those tokens.
func (c *RevocationChecker) remember(key [sha256.Size]byte) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.good) >= c.max {
		for k, until := range c.good {
			if !now.Before(until) {
				delete(c.good, k)
			}
		}
		for k := range c.good {
			if len(c.good) < c.max-c.max/10 {
				break
			}
			delete(c.good, k)
		}
	}
	c.good[key] = now.Add(c.ttl)
}

// cached returns how many tokens the cache holds (for tests).
func (c *RevocationChecker) cached() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.good)
}

// classifyGetUser turns a GetUser failure into a domain error. The SDK's
// error text names the operation, status and Cognito's message, never the
// token, so it is kept as the cause for logs.
func classifyGetUser(err error) error {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		// No answer from Cognito at all: network, timeout, cancelled.
		return withCause(ErrCognitoUnavailable, fmt.Errorf("cognito GetUser: %w", err))
	}
	switch apiErr.ErrorCode() {
	case "NotAuthorizedException", // revoked, signed out, expired, disabled user
		"UserNotFoundException",
		"UserNotConfirmedException",
		"PasswordResetRequiredException":
		return withCause(ErrTokenRevoked, fmt.Errorf("cognito GetUser: %w", err))
	case "InvalidParameterException": // not a token Cognito can parse
		return withCause(ErrTokenInvalid, fmt.Errorf("cognito GetUser: %w", err))
	case "TooManyRequestsException", "LimitExceededException", "ThrottlingException",
		"InternalErrorException", "InternalServerException":
		return withCause(ErrCognitoUnavailable, fmt.Errorf("cognito GetUser: %w", err))
	}
	var statusErr interface{ HTTPStatusCode() int }
	if apiErr.ErrorFault() == smithy.FaultServer ||
		(errors.As(err, &statusErr) && statusErr.HTTPStatusCode() >= http.StatusInternalServerError) {
		return withCause(ErrCognitoUnavailable, fmt.Errorf("cognito GetUser: %w", err))
	}
	// Anything else (ForbiddenException from a WAF, a misconfigured
	// client) is ours to fix, not the user's and not a retry's.
	return &jobs.Error{Kind: jobs.KindInternal, Message: "Internal error.", Err: fmt.Errorf("cognito GetUser: %w", err)}
}
