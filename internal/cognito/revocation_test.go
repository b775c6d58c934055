package cognito

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"

	"github.com/promptq/promptq/internal/jobs"
)

// fakeUserGetter answers GetUser with GetUserFunc and counts calls.
type fakeUserGetter struct {
	GetUserFunc func(ctx context.Context, in *cip.GetUserInput) (*cip.GetUserOutput, error)
	calls       atomic.Int64
}

func (f *fakeUserGetter) GetUser(ctx context.Context, in *cip.GetUserInput, _ ...func(*cip.Options)) (*cip.GetUserOutput, error) {
	f.calls.Add(1)
	if f.GetUserFunc == nil {
		return &cip.GetUserOutput{}, nil
	}
	return f.GetUserFunc(ctx, in)
}

func TestRevocationCheckerCachesPositiveAnswers(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var seen atomic.Value
	fake := &fakeUserGetter{GetUserFunc: func(_ context.Context, in *cip.GetUserInput) (*cip.GetUserOutput, error) {
		seen.Store(*in.AccessToken)
		return &cip.GetUserOutput{}, nil
	}}
	c, err := NewRevocationChecker(fake, RevocationConfig{Enabled: true, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	if err := c.Check(ctx, "token-1"); err != nil {
		t.Fatal(err)
	}
	if got := seen.Load(); got != "token-1" {
		t.Errorf("GetUser got access token %q, want token-1", got)
	}
	if err := c.Check(ctx, "token-1"); err != nil {
		t.Fatal(err)
	}
	if n := fake.calls.Load(); n != 1 {
		t.Errorf("GetUser calls = %d after a cache hit, want 1", n)
	}
	if err := c.Check(ctx, "token-2"); err != nil {
		t.Fatal(err)
	}
	if n := fake.calls.Load(); n != 2 {
		t.Errorf("GetUser calls = %d for another token, want 2", n)
	}

	clock.Advance(DefaultRevocationTTL - time.Second)
	_ = c.Check(ctx, "token-1")
	if n := fake.calls.Load(); n != 2 {
		t.Errorf("GetUser calls = %d before the TTL, want 2", n)
	}
	clock.Advance(time.Second)
	_ = c.Check(ctx, "token-1")
	if n := fake.calls.Load(); n != 3 {
		t.Errorf("GetUser calls = %d at the TTL, want 3 (asked again)", n)
	}
}

func TestRevocationCheckerDoesNotCacheRefusals(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	fail.Store(true)
	fake := &fakeUserGetter{GetUserFunc: func(context.Context, *cip.GetUserInput) (*cip.GetUserOutput, error) {
		if fail.Load() {
			return nil, &types.TooManyRequestsException{Message: new("Rate exceeded")}
		}
		return &cip.GetUserOutput{}, nil
	}}
	c, err := NewRevocationChecker(fake, RevocationConfig{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(t.Context(), "tok"); !errors.Is(err, ErrCognitoUnavailable) {
		t.Fatalf("err = %v, want %v", err, ErrCognitoUnavailable)
	}
	fail.Store(false)
	if err := c.Check(t.Context(), "tok"); err != nil {
		t.Fatalf("after Cognito recovered: %v", err)
	}
	if n := fake.calls.Load(); n != 2 {
		t.Errorf("GetUser calls = %d, want 2", n)
	}
}

func TestRevocationCheckerDisabled(t *testing.T) {
	t.Parallel()
	fake := &fakeUserGetter{}
	for _, client := range []userGetter{fake, nil} {
		c, err := NewRevocationChecker(client, RevocationConfig{Enabled: false})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Check(t.Context(), "tok"); err != nil {
			t.Errorf("disabled checker: %v", err)
		}
	}
	if n := fake.calls.Load(); n != 0 {
		t.Errorf("GetUser calls = %d while disabled, want 0", n)
	}
	if _, err := NewRevocationChecker(nil, RevocationConfig{Enabled: true}); err == nil {
		t.Error("NewRevocationChecker accepted Enabled without a client")
	}
}

func TestRevocationCheckerWithoutCache(t *testing.T) {
	t.Parallel()
	fake := &fakeUserGetter{}
	c, err := NewRevocationChecker(fake, RevocationConfig{Enabled: true, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.Check(t.Context(), "tok"); err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.calls.Load(); n != 3 {
		t.Errorf("GetUser calls = %d with the cache off, want 3", n)
	}
}

func TestRevocationCheckerCacheIsBounded(t *testing.T) {
	t.Parallel()
	fake := &fakeUserGetter{}
	c, err := NewRevocationChecker(fake, RevocationConfig{Enabled: true, MaxEntries: 50})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := c.Check(t.Context(), "tok-"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		if n := c.cached(); n > 50 {
			t.Fatalf("after %d tokens the cache holds %d, more than MaxEntries 50", i+1, n)
		}
	}
	// The newest token is always kept.
	before := fake.calls.Load()
	_ = c.Check(t.Context(), "tok-999")
	if fake.calls.Load() != before {
		t.Error("the token cached last was evicted")
	}
}

func TestRevocationCheckerClassifiesCognitoErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		want     error     // a sentinel, or nil to check only the kind
		wantKind jobs.Kind // checked always
	}{
		{"revoked", &types.NotAuthorizedException{Message: new("Access Token has been revoked")}, ErrTokenRevoked, jobs.KindUnauthorized},
		{"user deleted", &types.UserNotFoundException{Message: new("User does not exist.")}, ErrTokenRevoked, jobs.KindUnauthorized},
		{"password reset", &types.PasswordResetRequiredException{}, ErrTokenRevoked, jobs.KindUnauthorized},
		{"not a token", &types.InvalidParameterException{Message: new("Invalid parameter")}, ErrTokenInvalid, jobs.KindUnauthorized},
		{"throttled", &types.TooManyRequestsException{}, ErrCognitoUnavailable, jobs.KindUnavailable},
		{"limit exceeded", &types.LimitExceededException{}, ErrCognitoUnavailable, jobs.KindUnavailable},
		{"Cognito internal error", &types.InternalErrorException{}, ErrCognitoUnavailable, jobs.KindUnavailable},
		{"other server fault", &smithy.GenericAPIError{Code: "ServiceUnavailable", Fault: smithy.FaultServer}, ErrCognitoUnavailable, jobs.KindUnavailable},
		{"network", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, ErrCognitoUnavailable, jobs.KindUnavailable},
		{"deadline", fmt.Errorf("operation error: %w", context.DeadlineExceeded), ErrCognitoUnavailable, jobs.KindUnavailable},
		{"WAF says no", &types.ForbiddenException{}, nil, jobs.KindInternal},
		{"unknown client error", &smithy.GenericAPIError{Code: "SomethingNew", Fault: smithy.FaultClient}, nil, jobs.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeUserGetter{GetUserFunc: func(context.Context, *cip.GetUserInput) (*cip.GetUserOutput, error) {
				return nil, &smithy.OperationError{ServiceID: "Cognito Identity Provider", OperationName: "GetUser", Err: tt.err}
			}}
			c, err := NewRevocationChecker(fake, RevocationConfig{Enabled: true})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Check(t.Context(), "the-token")
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if k := jobs.KindOf(err); k != tt.wantKind {
				t.Errorf("kind = %s, want %s (err %v)", k, tt.wantKind, err)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("err = %v does not wrap the cause %v", err, tt.err)
			}
			if c.cached() != 0 {
				t.Error("a refusal was cached")
			}
		})
	}
}
