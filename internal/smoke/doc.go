// Package smoke is `make smoke` (scripts/smoke): after a deploy, it checks
// that the product works end to end, as a person would use it, in a minute
// or two.
//
// It finds its target in the outputs `make deploy` wrote
// (.local/stack-outputs.json), or, when there are none, in the dev stack's
// dev.json (`make dev`). Then it checks, in order:
//
//  1. an unauthenticated API request is refused (401);
//  2. the page and its config.json are served, config.json names this
//     stack's API and user pool, and, deployed, both come over HTTPS with
//     the security headers;
//  3. a throwaway user is created with the operator's credentials
//     (AdminCreateUser, then AdminSetUserPassword: no email is sent) and
//     logs in as the web app does (USER_PASSWORD_AUTH);
//  4. a short prompt submitted through the API (POST /generate) is polled
//     until it has succeeded;
//
// and finally deletes the user (AdminDeleteUser), whatever happened. Its
// job stays in the table until the table's TTL removes it (30 days).
//
// It prints a line per check and exits 0 when every check passed, 1 when
// one failed, 2 on a usage error or when there is nothing to check.
package smoke
