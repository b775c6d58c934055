// Package cognito checks the access tokens that Amazon Cognito user pools
// issue, for promptq's API.
//
// # Verifying a token
//
// A [Verifier] checks an access token locally, without a call to Cognito:
// the RS256 signature against the pool's JSON Web Key Set (JWKS), the
// issuer, token_use = "access", the app client, and the token's lifetime.
// The seed design called Cognito's GetUser on every request instead; that is
// a network round trip per request, and GetUser's per-account quota would
// cap the whole service.
//
// The JWKS is fetched when the Verifier is built and kept in memory. A token
// whose key id (kid) is not in the set makes the Verifier fetch the set again
// (keys rotate), but at most once per [VerifierConfig.MinRefreshInterval], so
// a flood of tokens with made-up key ids costs Cognito one request per
// interval, not one per token. A set older than [VerifierConfig.MaxKeySetAge]
// is refreshed too, so a key the pool has withdrawn stops verifying.
//
// The verified subject ([Principal.Sub]) is the user's immutable id: it is
// the owner of the user's jobs everywhere in promptq.
//
// # Revocation
//
// A signature can't tell that the user signed out (GlobalSignOut, RevokeToken)
// after the token was issued. For requests that spend money (POST /generate),
// a [RevocationChecker] asks Cognito's GetUser whether the token still
// works and remembers a positive answer briefly, keyed by a SHA-256 of the
// token (never the token itself).
//
// # Errors
//
// Every error is a *[jobs.Error]: [jobs.KindUnauthorized] when the token is at
// fault (with a message a person can read, never the token), and
// [jobs.KindUnavailable] when Cognito can't be reached or is throttling, so
// that an outage is not reported as the user's fault and clients retry.
//
// # Local development
//
// cognito-local (the stand-in in internal/dev/standin) signs with RS256 and serves
// a JWKS like Cognito, so the Verifier runs unchanged against it; build the
// issuer with [EndpointIssuer]. cognito-local's own GetUser does not check
// signatures or expiry, which is why the Verifier always runs first.
package cognito
