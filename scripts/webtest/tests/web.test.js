// The web app in real headless Chromium against the real dev stack
// (scripts/dev), started here in a temporary dir on free ports. Run with
// `make test-web` (or `make test`), which installs Chromium and
// playwright-core first.
//
// Screenshots of the main states go to docs/screenshots/ when
// WEBTEST_SCREENSHOTS is set to that dir (make web-screenshots).

import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";

import { SUBMISSIONS_PER_MINUTE } from "../lib/devstack.js";
import { claims } from "../lib/cognito.js";
import { suite, PASSWORD } from "../lib/suite.js";
import {
  eventually, textOf, form, signUp, confirm, logIn, waitForWorkspace, submitPrompt,
  jobStatus, waitForStatus, jobText, stat, historyIds, watchAnnouncements,
} from "../lib/app.js";

const t = suite();

// jobPolls are the page's GET /jobs/{id} requests for one job.
const jobPolls = (rec, id) => rec.api.filter((r) => r.method === "GET" && r.path === `/jobs/${id}`);

test("sign up, confirm with the emailed code, submit, watch the text grow, see token counts", async () => {
  const app = await t.open();
  const { page, rec } = app;
  const email = t.newEmail("ada");

  // The rules are there before anything is typed.
  await page.getByRole("button", { name: "Create an account" }).click();
  const rules = page.locator("#password-rules li");
  assert.ok(await rules.count() >= 4);
  assert.match(await textOf(page.locator("#password-rules")), /At least 12 characters/);
  await form(page, "Create an account").getByRole("textbox", { name: "Email" }).fill(email);
  await form(page, "Create an account").getByLabel("Password", { exact: true }).fill("Correct-Horse");
  await t.shot(page, "signup");
  await page.getByRole("button", { name: "Log in" }).click();

  await signUp(page, email, PASSWORD);
  const code = await t.admin.codeFor(email);
  await form(page, "Confirm your email").getByRole("textbox", { name: "Code" }).fill(code);
  await t.shot(page, "confirm");
  await confirm(page, code);
  await waitForWorkspace(page);
  assert.equal(await textOf(page.locator("#user-email")), email);

  const said = await watchAnnouncements(page);
  // A long answer: max tokens well above what the local model writes.
  const id = await submitPrompt(page, "Write a long story about a queue that never loses a message.", { maxTokens: 4000 });

  // Sample the text while it runs: it must grow, each sample extending the last.
  const samples = [];
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const status = await jobStatus(page);
    const text = await jobText(page);
    if (text && text !== samples.at(-1)) samples.push(text);
    if (status === "Running" && samples.length === 2) await t.shot(page, "growing", { fullPage: true });
    if (["Succeeded", "Failed", "Cancelled"].includes(status)) break;
    await sleep(150);
  }
  assert.equal(await jobStatus(page), "Succeeded");
  const final = await jobText(page);
  assert.ok(samples.length >= 3, `the text should appear progressively; saw ${samples.length} versions`);
  for (let i = 1; i < samples.length; i++) {
    assert.ok(samples[i].startsWith(samples[i - 1]), "each version extends the one before");
  }
  assert.ok(samples[0].length < final.length / 2, "the first text seen is well short of the whole");

  assert.ok(Number((await stat(page, "Input tokens")).replace(/,/g, "")) > 0);
  assert.ok(Number((await stat(page, "Output tokens")).replace(/,/g, "")) > 0);
  assert.match(await stat(page, "Time"), /\d(\.\d)? s|\d+ ms|min/);
  assert.equal(await page.getByRole("button", { name: "Cancel job" }).count(), 0);

  // The status changes were announced.
  await eventually(async () => assert.ok((await said()).some((s) => /succeeded/.test(s))));

  // Copy puts the whole text on the clipboard.
  await page.getByRole("button", { name: "Copy text" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), final);
  await t.shot(page, "succeeded", { fullPage: true });

  // What the page sent: the real API, with a bearer token.
  const post = rec.api.find((r) => r.method === "POST" && r.path === "/generate");
  assert.equal(post.status, 202);
  assert.match(post.auth, /^Bearer ey/);
  assert.ok(jobPolls(rec, id).length >= 2);
  t.noPageErrors(app);
});

test("one job's view polls as often as Retry-After says and stops when the job ends", async () => {
  const app = await t.loggedIn("polly");
  const { page, rec } = app;
  const id = await submitPrompt(page, "Tell me about polling intervals and backoff.", { maxTokens: 4000 });
  await waitForStatus(page, "Succeeded", 60_000);
  const doneAt = Date.now();
  await sleep(3000); // any stray poll would show up here

  const polls = jobPolls(rec, id);
  assert.ok(polls.length >= 2, "the job was polled");
  // Exactly one poll saw the terminal status, and it was the last.
  const terminal = polls.filter((p) => !p.headers["retry-after"]);
  assert.equal(terminal.length, 1, "one answer without Retry-After: the terminal one");
  assert.equal(polls.at(-1), terminal[0]);
  assert.ok(polls.at(-1).at <= doneAt);
  // Each poll waited at least the Retry-After of the answer before it.
  for (let i = 1; i < polls.length; i++) {
    const wanted = Number(polls[i - 1].headers["retry-after"]) * 1000;
    const waited = polls[i].at - polls[i - 1].at;
    assert.ok(waited >= wanted - 50, `poll ${i} came after ${waited} ms; Retry-After asked for ${wanted} ms`);
  }
  // No other job requests, and no duplicate pollers.
  const others = rec.api.filter((r) => r.method === "GET" && r.path.startsWith("/jobs/") && r.path !== `/jobs/${id}`);
  assert.deepEqual(others, []);
  // So the count is bounded by the time the job took: at most one poll per
  // smallest Retry-After (less the timing slack above), plus the first.
  const span = polls.at(-1).at - polls[0].at;
  const least = Math.min(...polls.slice(0, -1).map((p) => Number(p.headers["retry-after"]))) * 1000;
  assert.ok(polls.length <= Math.floor(span / (least - 50)) + 1, `${polls.length} polls in ${span} ms`);
  t.noPageErrors(app);
});

test("a finished job reopened from the history is fetched once, or not at all while its card is open", async () => {
  const app = await t.loggedIn("reopen");
  const { page, rec } = app;
  const first = await submitPrompt(page, "First job.", { maxTokens: 5 });
  await waitForStatus(page, "Succeeded", 60_000);
  const second = await submitPrompt(page, "Second job.", { maxTokens: 5 });
  await waitForStatus(page, "Succeeded", 60_000);
  await eventually(async () => assert.deepEqual((await historyIds(page)).slice(0, 2), [second, first]));

  // Its card still open (under the second's), it comes first as it is.
  let before = jobPolls(rec, first).length;
  await page.locator(`#history-list li[data-job-id="${first}"] a`).click();
  await eventually(async () => assert.equal(await textOf(page.locator(".job[data-current] .job-title")), "First job."));
  await sleep(1500);
  assert.equal(jobPolls(rec, first).length, before);

  // Closed, it is read once.
  await page.locator(".job[data-current]").getByRole("button", { name: /^Close / }).click();
  before = jobPolls(rec, first).length;
  await page.locator(`#history-list li[data-job-id="${first}"] a`).click();
  await eventually(async () => assert.equal(await textOf(page.locator(".job[data-current] .job-title")), "First job."));
  await eventually(async () => assert.equal(await textOf(page.locator(".job[data-current] .job-prompt")), "First job."));
  await waitForStatus(page, "Succeeded");
  await sleep(2500);
  assert.equal(jobPolls(rec, first).length, before + 1);
  assert.equal(await page.locator(`#history-list li[data-job-id="${first}"] a`).getAttribute("aria-current"), "true");
  t.noPageErrors(app);
});

test("a wrong confirmation code is refused in words, and a new code can be asked for", async () => {
  const app = await t.open();
  const { page, rec } = app;
  const email = t.newEmail("grace");
  await signUp(page, email, PASSWORD);
  const real = await t.admin.codeFor(email);
  const wrong = real === "000000" ? "111111" : "000000";
  await confirm(page, wrong);
  const error = page.locator("#confirm-error");
  await eventually(async () => assert.match(await textOf(error), /code is not right/));
  assert.equal(await page.getByRole("textbox", { name: "Code" }).getAttribute("aria-invalid"), "true");
  await t.shot(page, "wrong-code");

  // The message's advice works: a new code is sent (under make dev the
  // dev runner answers ResendConfirmationCode, which cognito-local lacks),
  // printed on the runner's console, and the old one no longer counts.
  await page.getByRole("button", { name: "Send a new code" }).click();
  await eventually(async () => assert.equal(await textOf(page.locator("#confirm-intro")), `We sent a new code to ${email}. Enter it here to finish creating your account.`));
  assert.equal(await textOf(error), "");
  assert.equal(rec.cognito.filter((c) => c.target === "ResendConfirmationCode").at(-1).status, 200);
  const fresh = await t.admin.consoleCodeFor(email, { after: 1 });
  await t.shot(page, "new-code");
  if (fresh !== real) {
    await confirm(page, real);
    await eventually(async () => assert.match(await textOf(error), /code is not right/));
  }
  await confirm(page, fresh);
  await waitForWorkspace(page);
  t.noPageErrors(app);
});

test("under make dev every sign-up's code is on the console at once, not held back until the next", async () => {
  // cognito-local's own logger counted characters in and bytes out, so
  // after a few boxes drawn with multi-byte characters it held a code
  // back until more output came (the next sign-up). Each code must show
  // with no sign-up after it.
  const app = await t.open();
  const { page } = app;
  for (let i = 0; i < 8; i++) {
    const email = t.newEmail("codes");
    await signUp(page, email, PASSWORD);
    assert.match(await t.admin.consoleCodeFor(email), /^\d{6}$/, `sign-up ${i + 1}`);
    await page.getByRole("button", { name: "Back to log in" }).click();
  }
  t.noPageErrors(app);
});

test("a wrong password is refused in words and signs no one in", async () => {
  const email = t.newEmail("linus");
  await t.admin.createUser(email, PASSWORD);
  const app = await t.open();
  const { page, rec } = app;
  await logIn(page, email, "Not-the-password-1");
  await eventually(async () => assert.equal(await textOf(page.locator("#login-error")), "The email or password is not right."));
  assert.equal(await form(page, "Log in").getByLabel("Password").getAttribute("aria-invalid"), "true");
  assert.equal(await page.locator("#workspace").isVisible(), false);
  assert.equal(rec.api.length, 0);
  await t.shot(page, "wrong-password");

  // An unconfirmed account is sent to the code form.
  const pending = t.newEmail("pending");
  await t.admin.call("SignUp", { ClientId: t.stack.info.client_id, Username: pending, Password: PASSWORD, UserAttributes: [{ Name: "email", Value: pending }] });
  await logIn(page, pending, PASSWORD);
  await form(page, "Confirm your email").waitFor();
  assert.equal(await page.getByRole("textbox", { name: "Email" }).inputValue(), pending);
  t.noPageErrors(app);
});

test("a weak password is refused before it reaches Cognito, naming the rules it misses", async () => {
  const app = await t.open();
  const { page, rec } = app;
  await page.getByRole("button", { name: "Create an account" }).click();
  const f = form(page, "Create an account");
  await f.getByRole("textbox", { name: "Email" }).fill(t.newEmail("weak"));
  await f.getByLabel("Password", { exact: true }).fill("short");
  await f.getByRole("button", { name: "Create account" }).click();
  assert.equal(await textOf(page.locator("#signup-error")), "The password still needs: at least 12 characters; an uppercase letter (A–Z); a digit (0–9); a symbol, such as ! @ # $ % & * ? -.");
  assert.equal(rec.cognito.filter((c) => c.target === "SignUp").length, 0);
  const met = await page.locator("#password-rules li").evaluateAll((lis) => lis.map((li) => [li.dataset.rule, li.dataset.met]));
  assert.deepEqual(Object.fromEntries(met).lower, "true");
  assert.deepEqual(Object.fromEntries(met).length, "false");
  t.noPageErrors(app);
});

test("a running job can be cancelled, and polling stops once its charge is final", async () => {
  const app = await t.loggedIn("cancel");
  const { page, rec } = app;
  // The local model streams its banner, then hangs until cancelled.
  const id = await submitPrompt(page, "Wait for me. promptq-fault:hang");
  await waitForStatus(page, "Running", 30_000);
  const cancel = page.getByRole("button", { name: "Cancel job" });
  await t.shot(page, "cancel", { fullPage: true });
  await cancel.click();
  await waitForStatus(page, "Cancelled");
  assert.equal(await cancel.count(), 0);
  const post = rec.api.find((r) => r.method === "POST" && r.path === `/jobs/${id}/cancel`);
  assert.equal(post.status, 200);
  // Its worker charges the call the cancel stopped a moment later: the
  // page looks until that is in, then no more.
  await eventually(async () => assert.match(await stat(page, "Charged"), /^[1-9][\d,]* tokens · \$0\.00$/), { timeoutMs: 60_000 });
  const polls = jobPolls(rec, id).length;
  await sleep(3000);
  assert.equal(jobPolls(rec, id).length, polls, "no polling once the charge is final");
  await eventually(async () => assert.equal(await textOf(page.locator(`#history-list li[data-job-id="${id}"] .badge`)), "Cancelled"));
  t.noPageErrors(app);
});

test("a failed job says why in words", async () => {
  const app = await t.loggedIn("fail");
  const { page } = app;
  await submitPrompt(page, "This one breaks. promptq-fault:invalid");
  await waitForStatus(page, "Failed", 60_000);
  const failure = page.locator(".job[data-current] .job-failure");
  assert.equal(await failure.isVisible(), true);
  assert.match(await textOf(failure), /^The model could not answer this prompt\./);
  await t.shot(page, "failed", { fullPage: true });
  t.noPageErrors(app);
});

test("the history pages through older jobs and reopens one", async () => {
  const app = await t.loggedIn("history");
  const { page } = app;
  // 22 jobs through the API's batch route (as the batch tool would), so
  // the history has more than one page.
  const tokens = await t.admin.logIn(app.email, PASSWORD);
  const requests = Array.from({ length: 22 }, (_, i) => ({ prompt: `History job ${i + 1}`, max_tokens: 3 }));
  const res = await fetch(`${t.stack.info.api_url}/generate/batch`, {
    method: "POST",
    headers: { Authorization: `Bearer ${tokens.AccessToken}`, "Content-Type": "application/json" },
    body: JSON.stringify({ requests }),
  });
  assert.equal(res.status, 202);
  const { results } = await res.json();
  const ids = results.map((r) => r.job_id);
  assert.equal(ids.filter(Boolean).length, 22);

  await page.getByRole("button", { name: "Refresh" }).click();
  await eventually(async () => assert.equal((await historyIds(page)).length, 20));
  const more = page.getByRole("button", { name: "Show older jobs" });
  await more.click();
  await eventually(async () => assert.equal((await historyIds(page)).length, 22));
  assert.equal(await more.isVisible(), false);
  assert.deepEqual(new Set(await historyIds(page)), new Set(ids));
  await t.shot(page, "history-pages", { fullPage: true });

  // Reopen the oldest by keyboard.
  const oldest = ids[0];
  const link = page.locator(`#history-list li[data-job-id="${oldest}"] a`);
  await link.focus();
  await page.keyboard.press("Enter");
  await eventually(async () => assert.match(await textOf(page.locator(".job[data-current] .job-prompt")), /^History job 1$/));
  t.noPageErrors(app);
});

test("a second user sees none of the first user's jobs, even by their link", async () => {
  const a = await t.loggedIn("alice");
  const id = await submitPrompt(a.page, "Alice's private prompt.", { maxTokens: 5 });
  await waitForStatus(a.page, "Succeeded", 60_000);

  const b = await t.loggedIn("bob");
  await eventually(async () => assert.equal(await b.page.locator("#history-empty").isVisible(), true));
  assert.deepEqual(await historyIds(b.page), []);
  const list = b.rec.api.filter((r) => r.method === "GET" && r.path.startsWith("/jobs?")).at(-1);
  assert.equal(list.status, 200);

  // Alice's link, opened by Bob: the API answers 404, the page says so.
  await b.page.evaluate((jobId) => {
    location.hash = `#job/${jobId}`;
  }, id);
  await eventually(async () => assert.equal(await jobStatus(b.page), "Not found"));
  assert.match(await textOf(b.page.locator(".job[data-current] .job-warning")), /No such job/);
  assert.equal((await jobText(b.page)).includes("Alice"), false);
  assert.equal(jobPolls(b.rec, id).at(-1).status, 404);
  assert.equal(jobPolls(b.rec, id).length, 1, "a 404 is not polled again");
  t.noPageErrors(a, b);
});

test("an expired access token is refreshed with the refresh token, unnoticed", async () => {
  const saved = await t.admin.setAccessTokenLifetime(3);
  try {
    const app = await t.loggedIn("refresh");
    const { page, rec } = app;
    const firstToken = rec.api[0]?.auth || "";
    assert.match(firstToken, /^Bearer /);
    const exp = claims(firstToken.slice(7)).exp;
    await sleep(Math.max(0, exp * 1000 - Date.now()) + 1000); // now it has expired
    assert.ok(Date.now() / 1000 > exp);

    const id = await submitPrompt(page, "After the token expired.", { maxTokens: 5 });
    await waitForStatus(page, "Succeeded", 60_000);
    const refreshes = rec.cognito.filter((c) => c.target === "InitiateAuth" && c.flow === "REFRESH_TOKEN_AUTH");
    assert.ok(refreshes.length >= 1, "the page used the refresh token");
    assert.ok(refreshes.every((r) => r.status === 200));
    const post = rec.api.find((r) => r.method === "POST" && r.path === "/generate");
    assert.equal(post.status, 202);
    assert.notEqual(post.auth, firstToken, "the new token was used");
    assert.ok(claims(post.auth.slice(7)).exp > exp);
    assert.ok(rec.api.every((r) => r.auth !== firstToken || r.at < exp * 1000), "the expired token was never sent");
    assert.equal(await page.locator("#workspace").isVisible(), true);
    assert.ok(jobPolls(rec, id).length >= 1);
    t.noPageErrors(app);
  } finally {
    await t.admin.restoreClient(saved);
  }
});

test("a token the API refuses (401) is refreshed and the request repeated", async () => {
  const app = await t.loggedIn("revoked");
  const { page, rec } = app;
  // The API refuses the current access token once, as it does for a
  // revoked or expired one. Only the network is touched; the page has no
  // test hook.
  let refused = 0;
  await page.route(`${t.stack.info.api_url}/jobs?*`, async (route) => {
    if (refused++ === 0) {
      await route.fulfill({
        status: 401,
        headers: { "Content-Type": "application/json", "WWW-Authenticate": 'Bearer error="invalid_token"', "Access-Control-Allow-Origin": t.stack.info.web_url },
        body: JSON.stringify({ error: { code: "unauthorized", message: "The access token has expired." } }),
      });
    } else {
      await route.continue();
    }
  });
  await page.getByRole("button", { name: "Refresh" }).click();
  await eventually(async () => assert.equal(rec.cognito.filter((c) => c.flow === "REFRESH_TOKEN_AUTH").length, 1));
  const lists = () => rec.api.filter((r) => r.path.startsWith("/jobs?"));
  await eventually(async () => assert.equal(lists().at(-1).status, 200));
  const at401 = lists().findIndex((r) => r.status === 401);
  assert.ok(at401 >= 0);
  assert.notEqual(lists()[at401 + 1].auth, lists()[at401].auth, "repeated with the new token");
  assert.equal(await page.locator("#history-error").isVisible(), false);
  assert.equal(await page.locator("#workspace").isVisible(), true);
  t.noPageErrors(app);
});

test("when the refresh token stops working the page asks to log in again and keeps the typed prompt", async () => {
  const saved = await t.admin.setAccessTokenLifetime(3);
  try {
    const app = await t.loggedIn("relogin");
    const { page } = app;
    const prompt = "A long prompt I spent a while writing.\nIt must survive a session that ends.";
    await page.getByRole("textbox", { name: "Prompt" }).fill(prompt);
    await page.getByRole("spinbutton", { name: "Max tokens" }).fill("7");
    // Signed out elsewhere: the refresh token is revoked.
    const tokens = t.admin.refreshTokensOf(app.email);
    assert.ok(tokens.length >= 1);
    for (const token of tokens) await t.admin.revoke(token);
    await sleep(4000); // and the access token has expired

    await page.getByRole("button", { name: "Generate" }).click();
    const f = form(page, "Log in");
    await f.waitFor();
    assert.match(await textOf(page.locator("#auth-notice")), /session has ended.*prompt you typed is kept/);
    assert.equal(await f.getByRole("textbox", { name: "Email" }).inputValue(), app.email);
    await t.shot(page, "session-ended");

    await logIn(page, app.email, PASSWORD);
    await waitForWorkspace(page);
    assert.equal(await page.getByRole("textbox", { name: "Prompt" }).inputValue(), prompt);
    assert.equal(await page.getByRole("spinbutton", { name: "Max tokens" }).inputValue(), "7");
    await page.getByRole("button", { name: "Generate" }).click();
    await waitForStatus(page, "Succeeded", 60_000);
    t.noPageErrors(app);
  } finally {
    await t.admin.restoreClient(saved);
  }
});

test("too many submissions (429) and a lost connection are shown in words", async () => {
  const app = await t.loggedIn("busy");
  const { page, context } = app;
  // Use up this minute's submissions (the limit counts calendar minutes,
  // so start early in one).
  const second = new Date().getUTCSeconds();
  if (second > 40) await sleep((61 - second) * 1000);
  const tokens = await t.admin.logIn(app.email, PASSWORD);
  for (let i = 0; i < SUBMISSIONS_PER_MINUTE;) {
    const res = await fetch(`${t.stack.info.api_url}/generate`, {
      method: "POST",
      headers: { Authorization: `Bearer ${tokens.AccessToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ prompt: `Filler ${i}`, max_tokens: 1 }),
    });
    const body = await res.text();
    if (res.status >= 500) {
      // The stand-in store failed for a moment (kumo under concurrent
      // writes answers 503s and the odd 500). Retry as a client should.
      await sleep(Number(res.headers.get("retry-after") || 1) * 1000);
      continue;
    }
    if (res.status === 429) break; // a refused attempt counted too: the limit is reached
    assert.equal(res.status, 202, body);
    i++;
  }

  await page.getByRole("textbox", { name: "Prompt" }).fill("One more, please.");
  await page.getByRole("button", { name: "Generate" }).click();
  const error = page.locator("#prompt-error");
  await eventually(async () => assert.match(await textOf(error), /^Too many requests: .+ Try again in \d+ seconds?\.$/));
  assert.equal(await page.getByRole("textbox", { name: "Prompt" }).inputValue(), "One more, please.");
  await t.shot(page, "rate-limited", { fullPage: true });

  // Offline: the submit fails in words, and the prompt stays.
  await context.setOffline(true);
  await page.getByRole("button", { name: "Generate" }).click();
  await eventually(async () => assert.match(await textOf(error), /Can't reach promptq/));
  await context.setOffline(false);
  t.noPageErrors(app);
});

test("polling backs off while the API cannot be reached, then carries on", async () => {
  const app = await t.loggedIn("offline");
  const { page, rec } = app;
  const id = await submitPrompt(page, "Keep going while I lose the network.", { maxTokens: 4000 });
  await waitForStatus(page, "Running", 30_000);
  let dropped = 0;
  await page.route(`${t.stack.info.api_url}/jobs/${id}`, (route) => {
    dropped++;
    return route.abort("internetdisconnected");
  });
  const warning = page.locator(".job[data-current] .job-warning");
  await eventually(async () => assert.match(await textOf(warning), /Can't reach promptq.*Checking again in \d+ s\./));
  await eventually(() => assert.ok(dropped >= 3), { timeoutMs: 20_000 });
  const failed = rec.api.filter((r) => r.path === `/jobs/${id}` && r.status === null).map((r) => r.at);
  const gaps = failed.slice(1).map((t, i) => t - failed[i]);
  assert.ok(gaps[1] > gaps[0], `the waits grow: ${gaps.join(", ")} ms`);
  await page.unroute(`${t.stack.info.api_url}/jobs/${id}`);
  await waitForStatus(page, "Succeeded", 60_000);
  assert.equal(await warning.isVisible(), false);
  t.noPageErrors(app);
});

test("log out forgets the session; no token is ever stored", async () => {
  const app = await t.loggedIn("leaver");
  const { page, rec, context } = app;
  await page.getByRole("textbox", { name: "Prompt" }).fill("draft text");
  await sleep(500);
  const token = rec.api[0].auth.slice(7);
  const stored = await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } }));
  assert.equal(stored.includes(token), false);
  assert.equal(stored.includes("eyJ"), false, "no JWT in web storage");
  assert.deepEqual((await context.cookies()).filter((c) => c.value.includes("eyJ")), []);
  assert.match(stored, /draft text/, "the draft prompt is in sessionStorage");

  await page.getByRole("button", { name: "Log out" }).click();
  await form(page, "Log in").waitFor();
  assert.match(await textOf(page.locator("#auth-notice")), /logged out/);
  assert.equal(await page.locator("#workspace").isVisible(), false);
  assert.ok(rec.cognito.some((c) => c.target === "RevokeToken"));
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "the draft goes with the session");

  // A reload starts signed out: nothing survives in the page.
  await page.reload();
  await page.waitForSelector("body[data-ready=true]");
  await form(page, "Log in").waitFor();
  t.noPageErrors(app);
});

test("keyboard only, on a phone-sized screen", async () => {
  const email = t.newEmail("phone");
  await t.admin.createUser(email, PASSWORD);
  const app = await t.open({ viewport: { width: 390, height: 844 } });
  const { page } = app;
  const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  assert.ok(await fits(), "the log-in form fits the width");
  await t.shot(page, "phone-login");

  // Tab from the top: skip link, then the form's fields in order.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "login-email");
  await page.keyboard.type(email);
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "login-password");
  // Focus is visible: the outline is drawn.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.equal(outline, "solid");
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press("Enter");
  await waitForWorkspace(page);
  assert.equal(await page.evaluate(() => document.activeElement.id), "prompt");

  await page.keyboard.type("Typed on a phone, sent with Ctrl+Enter.");
  await page.keyboard.press("Control+Enter");
  await waitForStatus(page, "Succeeded", 60_000);
  assert.ok(await fits(), "the job view fits the width");
  await t.shot(page, "phone", { fullPage: true });
  t.noPageErrors(app);
});
