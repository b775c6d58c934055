package signup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Mode is how people get accounts.
type Mode string

// The modes a stack is deployed with.
const (
	ModeOpen    Mode = "open"
	ModeDomains Mode = "domains"
	ModeInvite  Mode = "invite"
)

// Trigger sources Cognito sends the pre-sign-up trigger.
const (
	SourceSignUp          = "PreSignUp_SignUp"
	SourceAdminCreateUser = "PreSignUp_AdminCreateUser"
)

// Policy is a mode and, for ModeDomains, its domains (lower case).
type Policy struct {
	Mode    Mode
	Domains []string
}

// New validates a mode and its domains: domains are required with
// ModeDomains and refused with the others.
func New(mode Mode, domains []string) (Policy, error) {
	p := Policy{Mode: mode}
	switch mode {
	case ModeOpen, ModeInvite:
		if len(domains) > 0 {
			return Policy{}, fmt.Errorf("email domains are only for sign-up mode %q, not %q", ModeDomains, mode)
		}
		return p, nil
	case ModeDomains:
	default:
		return Policy{}, fmt.Errorf("sign-up mode %q: want %q, %q or %q", mode, ModeOpen, ModeDomains, ModeInvite)
	}
	if len(domains) == 0 {
		return Policy{}, fmt.Errorf("sign-up mode %q needs at least one email domain", ModeDomains)
	}
	var errs []error
	for _, d := range domains {
		d = asciiLower(strings.TrimSpace(d))
		if !validDomain(d) {
			errs = append(errs, fmt.Errorf("%q is not an email domain such as example.com", d))
			continue
		}
		if !slices.Contains(p.Domains, d) {
			p.Domains = append(p.Domains, d)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// validDomain accepts a host name of at least two labels of ASCII lower-case
// letters, digits and inner hyphens.
func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(d) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return false
			}
		}
	}
	return true
}

// RefusedError is a sign-up the policy does not allow. Its message is for
// the person signing up: Cognito shows it to them (as "PreSignUp failed
// with error <message>.").
type RefusedError struct{ Message string }

func (e *RefusedError) Error() string { return e.Message }

// Check says whether a sign-up from source (a Cognito trigger source) for
// the address email is allowed: nil, or a *RefusedError.
func (p Policy) Check(source, email string) error {
	if source == SourceAdminCreateUser {
		return nil // an administrator chose this user
	}
	switch p.Mode {
	case ModeOpen:
		return nil
	case ModeInvite:
		return &RefusedError{Message: "Sign-up is by invitation only: ask an administrator of this promptq for an account."}
	}
	domain, ok := domainOf(email)
	if !ok || !slices.Contains(p.Domains, domain) {
		return &RefusedError{Message: "Sign-up is open to email addresses at " + list(p.Domains) + " only."}
	}
	return nil
}

// domainOf is email's domain as the policy's domains are compared with it:
// ASCII letters lowered and nothing else changed. ok is false unless email
// has one "@" and its domain is a plain ASCII host name (validDomain).
// Unicode case rules are no way to compare domains: strings.ToLower turns
// the Kelvin sign (U+212A) into "k" and a dotted capital I (U+0130) into
// "i", so "eve@\u212Aumo.dev" would pass for kumo.dev and "eve@\u0130bm.com"
// for ibm.com, while mail to those addresses goes wherever their own
// domain's rules send it. An internationalized domain must be given in its
// ASCII (xn--) form, as the stack's signUpDomains are.
func domainOf(email string) (domain string, ok bool) {
	_, domain, ok = strings.Cut(strings.TrimSpace(email), "@")
	domain = asciiLower(domain)
	return domain, ok && validDomain(domain)
}

// asciiLower lowers the ASCII letters of s and leaves every other
// character as it is.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// list writes "a", "a or b", "a, b or c".
func list(domains []string) string {
	switch len(domains) {
	case 0:
		return ""
	case 1:
		return domains[0]
	}
	return strings.Join(domains[:len(domains)-1], ", ") + " or " + domains[len(domains)-1]
}

// Handler is the pre-sign-up trigger: it lets the event through unchanged
// (the user still confirms their address with a code) or returns the
// refusal, which Cognito turns into the sign-up's error. It logs the
// decision with the trigger source and the address's domain, never the
// address.
func Handler(p Policy, log *slog.Logger) func(context.Context, events.CognitoEventUserPoolsPreSignup) (events.CognitoEventUserPoolsPreSignup, error) {
	return func(ctx context.Context, ev events.CognitoEventUserPoolsPreSignup) (events.CognitoEventUserPoolsPreSignup, error) {
		email := ev.Request.UserAttributes["email"]
		domain, _ := domainOf(email)
		err := p.Check(ev.TriggerSource, email)
		log.InfoContext(ctx, "sign-up checked", "source", ev.TriggerSource, "mode", string(p.Mode),
			"domain", domain, "allowed", err == nil)
		if err != nil {
			return ev, err
		}
		return ev, nil
	}
}
