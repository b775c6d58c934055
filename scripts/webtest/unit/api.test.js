// The API client: 401 → one refresh and one retry; errors in words.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Api, ApiError, describe, parseRetryAfter } from "../../../web/js/api.js";
import { Session, SessionEndedError } from "../../../web/js/session.js";
import { CognitoError } from "../../../web/js/cognito.js";

// jwt makes an unsigned token with the given claims (the page never
// verifies signatures; the API does).
function jwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "none" })}.${b64(claims)}.sig`;
}

function fakeCognito({ refreshResults = [] } = {}) {
  let n = 0;
  const calls = { refresh: 0, logIn: 0 };
  return {
    calls,
    async logIn() {
      calls.logIn++;
      const now = Math.floor(Date.now() / 1000);
      return { accessToken: jwt({ sub: "u1", iat: now, exp: now + 3600, n: n++ }), refreshToken: "r1" };
    },
    async refresh() {
      calls.refresh++;
      const r = refreshResults.shift();
      if (r instanceof Error) throw r;
      const now = Math.floor(Date.now() / 1000);
      return { accessToken: jwt({ sub: "u1", iat: now, exp: now + 3600, n: n++ }), refreshToken: "r1" };
    },
    async getUser() {
      return { email: "a@example.com", sub: "u1" };
    },
    async revoke() {},
  };
}

function response(status, body, headers = {}) {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

test("a 401 refreshes the session once and repeats the call with the new token", async () => {
  const cognito = fakeCognito();
  const session = new Session(cognito);
  await session.logIn("a@example.com", "pw");
  const seen = [];
  const answers = [response(401, { error: { code: "unauthorized", message: "expired" } }), response(200, { jobs: [] })];
  const api = new Api({ baseUrl: "http://api", session, fetchFn: async (url, init) => {
    seen.push(init.headers.Authorization);
    return answers.shift();
  } });
  const out = await api.listJobs();
  assert.deepEqual(out.jobs, []);
  assert.equal(cognito.calls.refresh, 1);
  assert.equal(seen.length, 2);
  assert.notEqual(seen[0], seen[1]);
});

test("a second 401 after a refresh ends the session", async () => {
  const session = new Session(fakeCognito());
  await session.logIn("a@example.com", "pw");
  let ended = 0;
  session.addEventListener("ended", () => ended++);
  const api = new Api({ baseUrl: "http://api", session, fetchFn: async () => response(401, { error: { code: "unauthorized", message: "no" } }) });
  await assert.rejects(api.listJobs(), SessionEndedError);
  assert.equal(ended, 1);
  assert.equal(session.signedIn, false);
});

test("a refused refresh token ends the session; a network failure does not", async () => {
  const cognito = fakeCognito({ refreshResults: [new CognitoError("NetworkError", "offline"), new CognitoError("NotAuthorizedException", "no")] });
  const session = new Session(cognito);
  await session.logIn("a@example.com", "pw");
  await assert.rejects(session.refresh(), (e) => e instanceof CognitoError && e.name === "NetworkError");
  assert.equal(session.signedIn, true);
  await assert.rejects(session.refresh(), SessionEndedError);
  assert.equal(session.signedIn, false);
});

test("concurrent refreshes share one Cognito call", async () => {
  const cognito = fakeCognito();
  const session = new Session(cognito);
  await session.logIn("a@example.com", "pw");
  await Promise.all([session.refresh(), session.refresh(), session.refresh()]);
  assert.equal(cognito.calls.refresh, 1);
});

test("an access token near its end is refreshed before it is used", async () => {
  let now = 1_000_000;
  const cognito = fakeCognito();
  const session = new Session(cognito, { now: () => now });
  await session.logIn("a@example.com", "pw");
  const first = await session.accessToken();
  now += 3600 * 1000 - 61_000;
  assert.equal(await session.accessToken(), first);
  now += 2000; // inside the last minute
  assert.notEqual(await session.accessToken(), first);
  assert.equal(cognito.calls.refresh, 1);
});

test("network failures become an ApiError with status 0", async () => {
  const session = new Session(fakeCognito());
  await session.logIn("a@example.com", "pw");
  const api = new Api({ baseUrl: "http://api", session, fetchFn: async () => {
    throw new TypeError("Failed to fetch");
  } });
  await assert.rejects(api.listJobs(), (e) => e instanceof ApiError && e.status === 0 && e.transient && /connection/.test(e.message));
});

test("getJob reports Retry-After in seconds", async () => {
  const session = new Session(fakeCognito());
  await session.logIn("a@example.com", "pw");
  const api = new Api({ baseUrl: "http://api", session, fetchFn: async () => response(200, { job_id: "j", status: "running" }, { "Retry-After": "1" }) });
  const { job, retryAfter } = await api.getJob("j");
  assert.equal(job.status, "running");
  assert.equal(retryAfter, 1);
});

test("error answers are put in words", () => {
  const cases = [
    [400, { error: { code: "invalid_request", message: "max_tokens must be from 1 to 8192.", field: "max_tokens" } }, null, /max_tokens must be/],
    [429, { error: { code: "rate_limited", message: "You can submit 10 prompts a minute." } }, 12, /^Too many requests: You can submit 10 prompts a minute\. Try again in 12 seconds\.$/],
    [429, { message: "Too Many Requests" }, null, /^Too many requests\. Try again in a moment\.$/],
    [429, { error: { code: "rate_limited", message: "You have sent more than 25 submissions this minute; try again in a few seconds." } }, 53,
      /^Too many requests: You have sent more than 25 submissions this minute\. Try again in 53 seconds\.$/],
    [429, { error: { code: "rate_limited", message: "You have 3 jobs queued or running and at most 3 may be at once; wait for some to finish." } }, 10,
      /^Too many requests: You have 3 jobs .+; wait for some to finish\. Try again in 10 seconds\.$/],
    [503, { error: { code: "unavailable", message: "x" } }, 1, /busy.*Try again in 1 second\./],
    [500, { error: { code: "internal", message: "Internal error", request_id: "r-1" } }, null, /quote request id r-1/],
    [502, { message: "Internal server error" }, null, /not answering right now \(HTTP 502\)/],
    [404, { error: { code: "not_found", message: "No such job." } }, null, /does not exist, or it belongs to another account/],
    [413, null, null, /too large/],
  ];
  for (const [status, body, ra, want] of cases) {
    const e = describe(status, body, ra);
    assert.match(e.message, want, `HTTP ${status}`);
  }
  assert.equal(describe(400, { error: { code: "invalid_request", message: "m", field: "prompt" } }).field, "prompt");
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  assert.equal(parseRetryAfter("3"), 3);
  assert.equal(parseRetryAfter(null), null);
  assert.equal(parseRetryAfter("soon"), null);
  const inTen = new Date(Date.now() + 10_000).toUTCString();
  assert.ok(parseRetryAfter(inTen) >= 9 && parseRetryAfter(inTen) <= 10);
});
