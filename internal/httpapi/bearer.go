package httpapi

import (
	"strings"

	"github.com/promptq/promptq/internal/jobs"
)

// The answers to a missing or malformed Authorization header (401).
var (
	errMissingToken = &jobs.Error{Kind: jobs.KindUnauthorized,
		Message: "The Authorization header is missing; send Authorization: Bearer <access token>."}
	errMalformedHeader = &jobs.Error{Kind: jobs.KindUnauthorized,
		Message: "The Authorization header must be: Bearer <access token>."}
)

// bearerToken returns the token of an Authorization header value of the
// form "Bearer <token>" (RFC 6750 section 2.1). The scheme is
// case-insensitive; exactly one space separates it from exactly one token of
// the b64token characters (letters, digits, "-._~+/" and trailing "="), and
// nothing else may follow. A missing header is errMissingToken; anything
// else malformed is errMalformedHeader. The token itself is not checked:
// that is the Authenticator's job.
func bearerToken(header string) (string, error) {
	if header == "" {
		return "", errMissingToken
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errMalformedHeader
	}
	if !isB64Token(token) {
		// Empty, a second token, a list, stray whitespace: we won't guess
		// which part is meant.
		return "", errMalformedHeader
	}
	return token, nil
}

// isB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
