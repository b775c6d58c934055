// The session kept on this device (web/js/session.js): only the refresh
// token, only when asked, gone at log-out and when it stops working.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Session, Keeper, KEPT_KEY, SessionEndedError } from "../../../web/js/session.js";
import { CognitoError } from "../../../web/js/cognito.js";

function jwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "none" })}.${b64(claims)}.sig`;
}

function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
    get size() {
      return m.size;
    },
  };
}

function fakeCognito({ refresh = [] } = {}) {
  const calls = { refresh: [], revoke: [] };
  const tokens = (r) => {
    const now = Math.floor(Date.now() / 1000);
    return { accessToken: jwt({ sub: "u1", iat: now, exp: now + 300 }), idToken: jwt({ email: "a@example.com" }), refreshToken: r };
  };
  return {
    calls,
    async logIn() {
      return tokens("r1");
    },
    async refresh(token) {
      calls.refresh.push(token);
      const r = refresh.shift();
      if (r instanceof Error) throw r;
      return tokens(r || token);
    },
    async getUser() {
      return { email: "a@example.com", sub: "u1" };
    },
    async revoke(token) {
      calls.revoke.push(token);
    },
  };
}

test("a session is kept only when asked, and then only its refresh token", async () => {
  const storage = memoryStorage();
  const plain = new Session(fakeCognito(), { keeper: new Keeper(storage) });
  await plain.logIn("a@example.com", "pw");
  assert.equal(storage.size, 0, "nothing kept without keep");

  const kept = new Session(fakeCognito(), { keeper: new Keeper(storage) });
  await kept.logIn("a@example.com", "pw", { keep: true });
  assert.equal(kept.lasting, true);
  assert.deepEqual(JSON.parse(storage.getItem(KEPT_KEY)), { refreshToken: "r1", email: "a@example.com", sub: "u1" });
  assert.ok(!storage.getItem(KEPT_KEY).includes(await kept.accessToken()), "never an access token");

  // Someone logging in without keep on this device forgets it.
  await new Session(fakeCognito(), { keeper: new Keeper(storage) }).logIn("b@example.com", "pw");
  assert.equal(storage.getItem(KEPT_KEY), null);
});

test("a kept session resumes in a new page, follows a rotated token, and goes at log-out, revoked", async () => {
  const storage = memoryStorage();
  await new Session(fakeCognito(), { keeper: new Keeper(storage) }).logIn("a@example.com", "pw", { keep: true });

  const cognito = fakeCognito({ refresh: ["r2"] });
  const later = new Session(cognito, { keeper: new Keeper(storage) });
  const user = await later.resume();
  assert.deepEqual(user, { sub: "u1", email: "a@example.com" });
  assert.equal(later.signedIn, true);
  assert.deepEqual(cognito.calls.refresh, ["r1"]);
  assert.equal(JSON.parse(storage.getItem(KEPT_KEY)).refreshToken, "r2", "the rotated token is the one kept");

  await later.logOut();
  assert.equal(storage.getItem(KEPT_KEY), null);
  assert.deepEqual(cognito.calls.revoke, ["r2"]);
  assert.equal(await new Session(fakeCognito(), { keeper: new Keeper(storage) }).resume(), null);
});

test("a kept token Cognito refuses is forgotten; one it cannot check for now is kept", async () => {
  const storage = memoryStorage();
  await new Session(fakeCognito(), { keeper: new Keeper(storage) }).logIn("a@example.com", "pw", { keep: true });
  const offline = new Session(fakeCognito({ refresh: [new CognitoError("NetworkError", "offline")] }), { keeper: new Keeper(storage) });
  await assert.rejects(offline.resume(), CognitoError);
  assert.notEqual(storage.getItem(KEPT_KEY), null);
  const revoked = new Session(fakeCognito({ refresh: [new CognitoError("NotAuthorizedException", "revoked")] }), { keeper: new Keeper(storage) });
  assert.equal(await revoked.resume(), null);
  assert.equal(storage.getItem(KEPT_KEY), null);
});

test("a kept session that ends (its refresh token refused) is forgotten", async () => {
  const storage = memoryStorage();
  const s = new Session(fakeCognito({ refresh: [new CognitoError("NotAuthorizedException", "revoked")] }), { keeper: new Keeper(storage) });
  await s.logIn("a@example.com", "pw", { keep: true });
  await assert.rejects(s.refresh(), SessionEndedError);
  assert.equal(storage.getItem(KEPT_KEY), null);
});
