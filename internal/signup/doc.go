// Package signup decides who may create an account: the operator chooses a
// [Mode] at deploy (the stack's promptq:signUp), and in [ModeDomains] the
// Cognito pre-sign-up trigger (lambdas/presignup, [Handler]) refuses
// addresses outside the listed email domains.
//
// The modes:
//
//   - open: anyone may sign up (the default);
//   - domains: anyone with an address at one of the listed domains may sign
//     up; Cognito runs the trigger before it creates the user, and a
//     refusal reaches the person as the sign-up's error;
//   - invite: only administrators create users (AdminCreateUser). In AWS
//     the user pool itself refuses self sign-up (AllowAdminCreateUserOnly)
//     and no trigger runs; the dev stack's Cognito stand-in does not
//     enforce that setting, so there the same trigger refuses every self
//     sign-up instead.
//
// Users an administrator creates (trigger source PreSignUp_AdminCreateUser)
// are always let through: the administrator chose them.
//
// A domain is compared in ASCII, letters' case ignored, and an address
// whose domain has any other character is refused ([Policy.Check]):
// Unicode case folding would let look-alikes pass. The check runs at
// sign-up only; the README says what plus-addressing and a later email
// change allow.
package signup
