// The Cognito client's first log-in of an invited account: the
// NEW_PASSWORD_REQUIRED challenge, answered with RespondToAuthChallenge.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Cognito, CognitoError, NewPasswordRequired, expiredChallenge } from "../../../web/js/cognito.js";
import { Session } from "../../../web/js/session.js";

function jwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "none" })}.${b64(claims)}.sig`;
}

// fakeFetch answers each call from answers[action] (a function of the
// request body returning [status, body]) and records the calls.
function fakeFetch(answers) {
  const calls = [];
  const fn = async (_url, init) => {
    const action = init.headers["X-Amz-Target"].split(".").pop();
    const body = JSON.parse(init.body);
    calls.push({ action, body });
    const [status, out] = answers[action](body);
    return new Response(JSON.stringify(out), { status, headers: { "Content-Type": "application/x-amz-json-1.1" } });
  };
  return { fn, calls };
}

const now = Math.floor(Date.now() / 1000);
const result = { AuthenticationResult: { AccessToken: jwt({ sub: "u9", iat: now, exp: now + 3600 }), IdToken: jwt({ email: "new@example.com" }), RefreshToken: "r9" } };

test("a temporary password's log-in asks for a new one, holding the session but no password", async () => {
  const f = fakeFetch({
    InitiateAuth: () => [200, { ChallengeName: "NEW_PASSWORD_REQUIRED", Session: "sess-1", ChallengeParameters: { USER_ID_FOR_SRP: "u9" } }],
  });
  const c = new Cognito({ endpoint: "http://cognito.test/", clientId: "client", fetchFn: f.fn });
  const err = await c.logIn("new@example.com", "Temp-Password-1").catch((e) => e);
  assert.ok(err instanceof NewPasswordRequired);
  assert.ok(err instanceof CognitoError);
  assert.equal(err.email, "new@example.com");
  assert.equal(err.session, "sess-1");
  assert.ok(!JSON.stringify({ ...err, message: err.message }).includes("Temp-Password-1"));
});

test("the new password is sent with RespondToAuthChallenge and the session carries on as a log-in", async () => {
  const f = fakeFetch({
    InitiateAuth: () => [200, { ChallengeName: "NEW_PASSWORD_REQUIRED", Session: "sess-1" }],
    RespondToAuthChallenge: () => [200, result],
    GetUser: () => [200, { Username: "u9", UserAttributes: [{ Name: "email", Value: "new@example.com" }, { Name: "sub", Value: "u9" }] }],
  });
  const c = new Cognito({ endpoint: "http://cognito.test/", clientId: "client", fetchFn: f.fn });
  const s = new Session(c);
  const ch = await s.logIn("new@example.com", "Temp-Password-1").catch((e) => e);
  assert.ok(ch instanceof NewPasswordRequired);
  assert.equal(s.signedIn, false);
  const user = await s.setNewPassword(ch, "Brand-New-Password-7");
  assert.deepEqual(user, { sub: "u9", email: "new@example.com" });
  assert.equal(s.signedIn, true);
  const respond = f.calls.find((x) => x.action === "RespondToAuthChallenge");
  assert.deepEqual(respond.body, {
    ClientId: "client",
    ChallengeName: "NEW_PASSWORD_REQUIRED",
    Session: "sess-1",
    ChallengeResponses: { USERNAME: "new@example.com", NEW_PASSWORD: "Brand-New-Password-7" },
  });
});

test("a weak new password and an expired challenge are told apart", async () => {
  const answers = [
    [400, { __type: "InvalidPasswordException", message: "Password does not conform to policy: Password not long enough" }],
    [400, { __type: "NotAuthorizedException", message: "Invalid session for the user, session is expired." }],
    [400, { __type: "InvalidParameterException", message: "Invalid session provided" }],
    [400, { __type: "InvalidParameterException", message: "Invalid attributes given" }],
  ];
  const f = fakeFetch({ RespondToAuthChallenge: () => answers.shift() });
  const c = new Cognito({ endpoint: "http://cognito.test/", clientId: "client", fetchFn: f.fn });
  const ch = { email: "new@example.com", session: "sess-1" };
  const weak = await c.setNewPassword(ch, "x").catch((e) => e);
  assert.equal(weak.name, "InvalidPasswordException");
  assert.equal(expiredChallenge(weak), false);
  assert.equal(expiredChallenge(await c.setNewPassword(ch, "x").catch((e) => e)), true);
  assert.equal(expiredChallenge(await c.setNewPassword(ch, "x").catch((e) => e)), true);
  assert.equal(expiredChallenge(await c.setNewPassword(ch, "x").catch((e) => e)), false);
});

test("a challenge other than a new password is still refused in words", async () => {
  const f = fakeFetch({ InitiateAuth: () => [200, { ChallengeName: "SOFTWARE_TOKEN_MFA", Session: "s" }] });
  const c = new Cognito({ endpoint: "http://cognito.test/", clientId: "client", fetchFn: f.fn });
  const err = await c.logIn("a@example.com", "p").catch((e) => e);
  assert.ok(!(err instanceof NewPasswordRequired));
  assert.match(err.message, /does not support yet \(SOFTWARE_TOKEN_MFA\)/);
});
