// The workspace as a person uses it: submitting in quick succession,
// reloading, links, finished, cancelled and failed jobs, the form's limits
// and a shared tab, in real headless Chromium against the real dev stack.

import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";

import { suite, PASSWORD } from "../lib/suite.js";
import {
  eventually, textOf, form, logIn, waitForWorkspace, submitPrompt,
  waitForStatus, stat, historyIds,
} from "../lib/app.js";

const t = suite();

// apiJob reads a job straight from the API, as its owner.
async function apiJob(email, id) {
  const tokens = await t.admin.logIn(email, PASSWORD);
  const res = await fetch(`${t.stack.info.api_url}/jobs/${id}`, { headers: { Authorization: `Bearer ${tokens.AccessToken}` } });
  assert.equal(res.status, 200);
  return res.json();
}

// ms reads a duration as the page writes it ("740 ms", "1.3 s", "2 min 5 s",
// "1 h 31 min").
function ms(text) {
  let m = /^(\d+) ms$/.exec(text);
  if (m) return Number(m[1]);
  m = /^(\d+(?:\.\d)?) s$/.exec(text);
  if (m) return Number(m[1]) * 1000;
  m = /^(\d+) min (\d+) s$/.exec(text);
  if (m) return Number(m[1]) * 60_000 + Number(m[2]) * 1000;
  m = /^(\d+) h (\d+) min$/.exec(text);
  if (m) return Number(m[1]) * 3_600_000 + Number(m[2]) * 60_000;
  throw new Error(`not a duration: ${JSON.stringify(text)}`);
}

test("prompts sent in quick succession are each in the history at once, and stay there", async () => {
  const app = await t.loggedIn("quick");
  const { page, rec } = app;
  const prompt = page.getByRole("textbox", { name: "Prompt" });
  const ids = [];
  for (let i = 1; i <= 5; i++) {
    await prompt.fill(`Quick prompt number ${i}.`);
    const before = page.url();
    await prompt.press("Control+Enter");
    await eventually(() => assert.ok(page.url() !== before && /#job\/[0-9a-f-]{36}$/.test(page.url())));
    const id = page.url().split("#job/")[1];
    ids.push(id);
    // At once: the moment the page shows the job, its history has it.
    assert.ok((await historyIds(page)).includes(id), `job ${i} is in the history when it opens`);
    assert.equal(await page.locator("#history-empty").isVisible(), false, "no 'No jobs yet' with a job queued");
    await sleep(150 + Math.floor(Math.random() * 250));
  }
  // And they stay, each reaching its end, with no Refresh.
  for (const id of ids) {
    await eventually(async () => assert.equal(await textOf(page.locator(`#history-list li[data-job-id="${id}"] .badge`)), "Succeeded"), { timeoutMs: 60_000 });
  }
  assert.deepEqual((await historyIds(page)).slice(0, 5), [...ids].reverse());
  assert.equal(rec.api.filter((r) => r.method === "POST" && r.path === "/generate").length, 5);
  t.noPageErrors(app);
});

test("a job's link survives a reload and logging in again", async () => {
  const app = await t.loggedIn("linked");
  const { page } = app;
  const id = await submitPrompt(page, "A job I will come back to.", { maxTokens: 5 });
  await waitForStatus(page, "Succeeded", 60_000);
  await page.reload();
  await page.waitForSelector("body[data-ready=true]");
  await form(page, "Log in").waitFor();
  assert.match(page.url(), new RegExp(`#job/${id}$`), "the link is kept while logged out");
  await logIn(page, app.email, PASSWORD);
  await waitForWorkspace(page);
  await eventually(async () => assert.equal(await textOf(page.locator(".job[data-current] .job-prompt")), "A job I will come back to."));
  assert.match(page.url(), new RegExp(`#job/${id}$`));
  await waitForStatus(page, "Succeeded");
  t.noPageErrors(app);
});

test("a reload says why it logged out, fills in the email and keeps a draft typed just before", async () => {
  const app = await t.loggedIn("reloader");
  const { page } = app;
  const draft = "Typed a moment before the reload.";
  await page.getByRole("textbox", { name: "Prompt" }).fill(draft);
  await page.reload(); // no pause: the draft must already be kept
  await page.waitForSelector("body[data-ready=true]");
  const f = form(page, "Log in");
  await f.waitFor();
  assert.match(await textOf(page.locator("#auth-notice")), /reload.*memory/i);
  assert.equal(await f.getByRole("textbox", { name: "Email" }).inputValue(), app.email);
  await t.shot(page, "reloaded");
  await f.getByLabel("Password").fill(PASSWORD);
  await f.getByRole("button", { name: "Log in" }).click();
  await waitForWorkspace(page);
  assert.equal(await page.getByRole("textbox", { name: "Prompt" }).inputValue(), draft);
  t.noPageErrors(app);
});

test("a cancelled job says it was cancelled and does not claim zero tokens", async () => {
  const app = await t.loggedIn("stopper");
  const { page } = app;
  await submitPrompt(page, "Wait for me. promptq-fault:hang");
  await waitForStatus(page, "Running", 30_000);
  await page.getByRole("button", { name: "Cancel job" }).click();
  await waitForStatus(page, "Cancelled");
  assert.match(await stat(page, "Stopped"), /cancel/i);
  // Until its worker charges the call it stopped, the counts are not
  // known; then they are what was charged.
  await eventually(async () => assert.doesNotMatch(await stat(page, "Charged"), /so far/), { timeoutMs: 60_000 });
  for (const name of ["Input tokens", "Output tokens"]) {
    assert.match(await stat(page, name), /^[1-9][\d,]*$/, `${name} of a cancelled job`);
  }
  t.noPageErrors(app);
});

test("a failed job shows no empty text box or copy button, and its time from the person's view", async () => {
  const app = await t.loggedIn("failing");
  const { page } = app;
  const id = await submitPrompt(page, "This one breaks. promptq-fault:invalid");
  await waitForStatus(page, "Failed", 60_000);
  assert.equal(await page.getByRole("region", { name: "Generated text" }).isVisible(), false);
  assert.equal(await page.getByText("No text.").count(), 0);
  assert.equal(await page.getByRole("button", { name: "Copy text" }).isVisible(), false);
  // From submitting to failing, as the person waited.
  const job = await apiJob(app.email, id);
  const waited = Date.parse(job.finished_at) - Date.parse(job.created_at);
  assert.ok(Math.abs(ms(await stat(page, "Time")) - waited) <= Math.max(50, waited * 0.05), `shown ${await stat(page, "Time")}, waited ${waited} ms`);
  t.noPageErrors(app);
});

test("a prompt over the limit is counted and stopped before sending, with focus kept on it", async () => {
  const app = await t.loggedIn("verbose");
  const { page, rec } = app;
  const prompt = page.getByRole("textbox", { name: "Prompt" });
  await prompt.fill("x".repeat(100_001));
  await eventually(async () => assert.match(await textOf(page.locator("#prompt-count")), /100,001 \/ 100,000/));
  await page.getByRole("button", { name: "Generate" }).click();
  await eventually(async () => assert.match(await textOf(page.locator("#prompt-error")), /at most 100,000 characters/));
  assert.equal(await page.evaluate(() => document.activeElement.id), "prompt");
  assert.equal(await prompt.getAttribute("aria-invalid"), "true");
  assert.equal(rec.api.filter((r) => r.path === "/generate").length, 0, "nothing sent");
  await t.shot(page, "too-long");
  t.noPageErrors(app);
});

test("after log-out the next person in the tab starts with the default settings", async () => {
  const first = await t.loggedIn("sharer");
  const { page } = first;
  await page.getByRole("spinbutton", { name: "Temperature" }).fill("0.3");
  await page.getByRole("radio", { name: "Claude Haiku 5.5" }).check();
  await page.getByRole("spinbutton", { name: "Max tokens" }).fill("77");
  await page.getByLabel("Effort").selectOption("high");
  await page.getByRole("button", { name: "Log out" }).click();
  await form(page, "Log in").waitFor();
  const next = t.newEmail("sharee");
  await t.admin.createUser(next, PASSWORD);
  await logIn(page, next, PASSWORD);
  await waitForWorkspace(page);
  assert.equal(await page.getByRole("radio", { name: /\(default\)$/ }).isChecked(), true);
  assert.equal(await page.getByRole("spinbutton", { name: "Max tokens" }).inputValue(), "1024");
  assert.equal(await page.getByRole("spinbutton", { name: "Temperature" }).inputValue(), "");
  await page.getByRole("radio", { name: "Claude Haiku 5.5" }).check();
  assert.equal(await page.getByLabel("Effort").inputValue(), "", "the default effort");
  t.noPageErrors(first);
});

test("user text follows its own direction: a right-to-left prompt reads right to left", async () => {
  const app = await t.loggedIn("hebrew");
  const { page } = app;
  const prompt = page.getByRole("textbox", { name: "Prompt" });
  assert.equal(await prompt.getAttribute("dir"), "auto");
  const id = await submitPrompt(page, "שלום, כתוב לי שיר קצר על תורים.");
  await waitForStatus(page, "Succeeded", 60_000);
  for (const sel of [".job[data-current] .job-prompt", `#history-list li[data-job-id="${id}"] .preview`]) {
    await eventually(async () => assert.equal(await page.locator(sel).evaluate((el) => getComputedStyle(el).direction), "rtl", sel));
  }
  t.noPageErrors(app);
});

test("placeholders are readable: at least 4.5:1 against their field, light and dark", async () => {
  for (const colorScheme of ["light", "dark"]) {
    const app = await t.open({ colorScheme });
    const ratio = await app.page.evaluate(() => {
      const rgb = (c) => c.match(/[\d.]+/g).slice(0, 3).map(Number);
      const lum = ([r, g, b]) => {
        const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
      };
      const el = document.getElementById("temperature");
      const a = lum(rgb(getComputedStyle(el, "::placeholder").color));
      const b = lum(rgb(getComputedStyle(el).backgroundColor));
      return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    });
    assert.ok(ratio >= 4.5, `${colorScheme}: placeholder contrast ${ratio.toFixed(2)}:1`);
    t.noPageErrors(app);
  }
});

test("the card of a job just sent names its model before the API says anything more", async () => {
  const app = await t.loggedIn("queued");
  const { page } = app;
  // The job's GET is held back, so the card shows what the page knew at
  // submission: queued, and the (default) model.
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route(`${t.stack.info.api_url}/jobs/*`, async (route) => {
    await held;
    await route.continue();
  });
  await submitPrompt(page, "Which model am I?");
  assert.equal(await textOf(page.locator(".job[data-current] .job-status")), "Queued");
  // The catalogue's name for the default model (config.json), not its id.
  assert.match(await textOf(page.locator(".job[data-current] .job-meta")), /promptq local model \(not a real LLM\)/);
  release();
  await page.unroute(`${t.stack.info.api_url}/jobs/*`);
  await waitForStatus(page, "Succeeded", 60_000);
  t.noPageErrors(app);
});

test("an empty max tokens is not silently 1024: the form says what it means", async () => {
  const app = await t.loggedIn("empty");
  const { page } = app;
  await page.getByRole("spinbutton", { name: "Max tokens" }).fill("");
  await eventually(async () => assert.match(await textOf(page.locator("#max-tokens-hint")), /empty.*default.*1,024/i));
  await submitPrompt(page, "No max tokens given.");
  await eventually(async () => assert.match(await textOf(page.locator(".job[data-current] .job-meta")), /max 1,024 tokens \(default\)/));
  t.noPageErrors(app);
});

// routeConfig serves the dev stack's config.json with patch applied, as a
// deployed stack with other settings would write it.
function routeConfig(patch) {
  return async (context) => {
    await context.route(`${t.stack.info.web_url}/config.json`, async (route) => {
      const res = await route.fetch();
      route.fulfill({ response: res, json: { ...(await res.json()), ...patch } });
    });
  };
}

test("the answer comes first: the job just sent is in view above the composer, with a running clock", async () => {
  const app = await t.loggedIn("watcher", { viewport: { width: 1280, height: 800 } });
  const { page } = app;
  // Scroll the composer down first, as after reading a long answer.
  await page.getByRole("textbox", { name: "Prompt" }).fill("Wait for me. promptq-fault:hang");
  await page.getByRole("button", { name: "Generate" }).click();
  await waitForStatus(page, "Running", 30_000);
  const job = await page.locator(".job[data-current]").boundingBox();
  const compose = await page.locator("#compose").boundingBox();
  assert.ok(job.y < compose.y, "the job is above the composer");
  const inView = await page.locator(".job[data-current] .job-title").evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight;
  });
  assert.ok(inView, "the job's title is on screen");
  assert.match(await page.evaluate(() => document.activeElement.className), /\bjob-title\b/);
  const clock = page.locator(".job[data-current] .job-elapsed");
  assert.match(await textOf(clock), /^\d+ s$/);
  const first = await textOf(clock);
  await eventually(async () => assert.notEqual(await textOf(clock), first), { timeoutMs: 10_000 });
  await t.shot(page, "running", { fullPage: true });
  await page.getByRole("button", { name: "Cancel job" }).click();
  await waitForStatus(page, "Cancelled");
  assert.equal(await clock.isVisible(), false, "the clock stops with the job");
  t.noPageErrors(app);
});

test("a failed, cancelled or finished job runs again as a new job with the same settings, in one click", async () => {
  const app = await t.loggedIn("again");
  const { page } = app;
  await page.getByRole("radio", { name: "Claude Haiku 5.5" }).check();
  await page.getByLabel("Effort").selectOption("high");
  const first = await submitPrompt(page, "Break, then run again. promptq-fault:invalid", { maxTokens: 321 });
  await waitForStatus(page, "Failed", 60_000);
  await page.getByRole("button", { name: "Try again" }).click();
  await eventually(() => assert.ok(!page.url().endsWith(first) && /#job\/[0-9a-f-]{36}$/.test(page.url())));
  const second = page.url().split("#job/")[1];
  assert.ok((await historyIds(page)).includes(second), "the new job is in the history at once");
  await waitForStatus(page, "Failed", 60_000);
  const [a, b] = [await apiJob(app.email, first), await apiJob(app.email, second)];
  for (const k of ["prompt", "model", "max_tokens", "effort"]) assert.deepEqual(b[k], a[k], k);
  assert.equal(b.model, "us.anthropic.claude-haiku-5-5");
  assert.equal(b.effort, "high");

  const ok = await submitPrompt(page, "A fine answer.", { maxTokens: 7 });
  await waitForStatus(page, "Succeeded", 60_000);
  await page.getByRole("button", { name: "Run again", exact: true }).click();
  await eventually(() => assert.ok(!page.url().endsWith(ok)));
  await waitForStatus(page, "Succeeded", 60_000);
  assert.equal((await apiJob(app.email, page.url().split("#job/")[1])).max_tokens, 7);
  t.noPageErrors(app);
});

test("the history: titled by the prompt, dated, searchable, filtered by status, with model names and a bulk tag", async () => {
  const catalogue = [
    { id: "promptq-local", name: "Local stand-in", max_output_tokens: 4000 },
    { id: "us.anthropic.claude-haiku-4-5-20251001-v1:0", name: "Claude Haiku 4.5", max_output_tokens: 64000 },
  ];
  const app = await t.loggedIn("archivist", { setup: routeConfig({ models: catalogue }) });
  const { page, rec } = app;

  // The picker shows names; the default model's output limit bounds max tokens.
  assert.deepEqual(await page.locator("#model-field .model-name").allTextContents(), ["Local stand-in (default)", "Claude Haiku 4.5"]);
  assert.equal(await page.getByRole("spinbutton", { name: "Max tokens" }).getAttribute("max"), "4000");
  await page.getByRole("textbox", { name: "Prompt" }).fill("Too many tokens for the local stand-in.");
  await page.getByRole("spinbutton", { name: "Max tokens" }).fill("5000");
  await page.getByRole("button", { name: "Generate" }).click();
  assert.match(await textOf(page.locator("#prompt-error")), /from 1 to 4,000/);
  assert.equal(rec.api.filter((r) => r.path === "/generate").length, 0);
  await page.getByRole("radio", { name: "Claude Haiku 4.5" }).check();
  assert.equal(await page.getByRole("spinbutton", { name: "Max tokens" }).getAttribute("max"), "64000");

  const tokens = await t.admin.logIn(app.email, PASSWORD);
  const prompts = [
    "Write a haiku about queues that never lose a message",
    "Explain exponential backoff with jitter to a new engineer on the team, with examples",
    "Bulk summary of yesterday's tickets",
    "This one breaks. promptq-fault:invalid",
  ];
  // One by one, as the page sends them; the third on the bulk lane, as
  // a script would send it.
  const ids = [];
  for (const prompt of prompts) {
    const lane = /^Bulk /.test(prompt) ? "bulk" : "interactive";
    const res = await fetch(`${t.stack.info.api_url}/generate`, {
      method: "POST",
      headers: { Authorization: `Bearer ${tokens.AccessToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ prompt, max_tokens: 5, lane }),
    });
    assert.equal(res.status, 202);
    const body = await res.json();
    assert.equal(body.lane, lane);
    ids.push(body.job_id);
  }
  await page.getByRole("button", { name: "Refresh" }).click();
  const item = (i) => page.locator(`#history-list li[data-job-id="${ids[i]}"]`);
  await eventually(async () => assert.equal(await item(3).locator(".badge").textContent(), "Failed"), { timeoutMs: 60_000 });

  // Titles from the prompt's first words, a date with the time, the
  // model's name, and the bulk tag.
  assert.equal(await textOf(item(0).locator(".title")), "Write a haiku about queues that never lose a message");
  assert.equal(await textOf(item(1).locator(".title")), "Explain exponential backoff with jitter to a new engineer on…");
  const when = await textOf(item(0).locator("time"));
  assert.match(when, /^\d{1,2} [A-Z][a-z]{2}(,| at)? \d{2}:\d{2}$/, `date and time: ${when}`);
  assert.equal(await textOf(item(0).locator(".model")), "Local stand-in");
  assert.equal(await item(2).locator(".tag").textContent(), "bulk");
  assert.equal(await item(0).locator(".tag").count(), 0);
  await t.shot(page, "history", { fullPage: true });

  // Search, any case, every word (tests/search.test.js has the rest).
  const search = page.getByRole("searchbox", { name: "Search your jobs" });
  await search.fill("HAIKU queues");
  await eventually(async () => assert.deepEqual(await historyIds(page), [ids[0]]));
  await search.fill("nothing like this");
  await eventually(async () => assert.match(await textOf(page.locator("#history-none")), /No job of yours matches “nothing like this”/));
  assert.deepEqual(await historyIds(page), []);
  await search.fill("");
  await eventually(async () => assert.equal((await historyIds(page)).length, 4));
  // Status filters.
  await page.getByLabel("Status").selectOption("failed");
  assert.deepEqual(await historyIds(page), [ids[3]]);
  await page.getByLabel("Status").selectOption("succeeded");
  await eventually(async () => assert.deepEqual(new Set(await historyIds(page)), new Set(ids.slice(0, 3))), { timeoutMs: 60_000 });
  await page.getByLabel("Status").selectOption("");
  assert.equal((await historyIds(page)).length, 4);
  t.noPageErrors(app);
});

test("sign-up by invitation: no sign-up form, and the page says accounts come from an administrator", async () => {
  const app = await t.open({ setup: routeConfig({ sign_up: "invite" }) });
  const { page } = app;
  await form(page, "Log in").waitFor();
  assert.equal(await page.getByRole("button", { name: "Create an account" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Enter your code" }).count(), 0);
  assert.match(await textOf(page.locator("#invite-only")), /created by an administrator/);
  assert.equal(await page.locator("#signup-form").isVisible(), false);
  t.noPageErrors(app);
});

test("an invited user's first log-in asks for a new password, then carries on logged in", async () => {
  const email = t.newEmail("invitee");
  const temporary = "Temp-Pass-4-invite!";
  await t.admin.invite(email, temporary);
  const app = await t.open({ setup: routeConfig({ sign_up: "invite" }) });
  const { page, rec } = app;
  await logIn(page, email, temporary);
  const f = form(page, "Choose a new password");
  await f.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), "newpw-password");
  assert.equal(await page.locator("#workspace").isVisible(), false);
  assert.equal(await page.locator("#login-password").inputValue(), "");
  assert.deepEqual(await page.locator("#newpw-rules li").evaluateAll((lis) => lis.map((li) => li.dataset.rule)),
    ["length", "lower", "upper", "digit", "symbol"]);
  await t.shot(page, "new-password");

  // The two passwords must match; nothing is sent until they do.
  await f.getByLabel("New password", { exact: true }).fill("Chosen-Pass-77-mine");
  await f.getByLabel("Confirm new password").fill("Chosen-Pass-77-mien");
  await f.getByRole("button", { name: "Set password and log in" }).click();
  assert.equal(await textOf(page.locator("#newpw-error")), "The two passwords are not the same. Type the new password again.");
  assert.equal(await f.getByLabel("Confirm new password").getAttribute("aria-invalid"), "true");
  assert.equal(await page.evaluate(() => document.activeElement.id), "newpw-again");
  assert.equal(rec.cognito.filter((c) => c.target === "RespondToAuthChallenge").length, 0);

  await f.getByLabel("Confirm new password").fill("Chosen-Pass-77-mine");
  await f.getByRole("button", { name: "Set password and log in" }).click();
  await waitForWorkspace(page);
  assert.equal(await textOf(page.locator("#user-email")), email);
  assert.deepEqual(rec.cognito.filter((c) => c.target === "RespondToAuthChallenge").map((c) => c.status), [200]);
  const id = await submitPrompt(page, "First prompt after choosing a password.");
  await waitForStatus(page, "Succeeded", 60_000);
  assert.match(id, /^[0-9a-f-]{36}$/);

  // The new password is the one that works from now on; the temporary one does not.
  await page.getByRole("button", { name: "Log out" }).click();
  await logIn(page, email, temporary);
  await eventually(async () => assert.equal(await textOf(page.locator("#login-error")), "The email or password is not right."));
  await logIn(page, email, "Chosen-Pass-77-mine");
  await waitForWorkspace(page);
  t.noPageErrors(app);
});

test("a weak new password is refused in words, and an expired new-password step leads back to log in", async () => {
  const email = t.newEmail("invitee");
  const temporary = "Temp-Pass-5-invite!";
  await t.admin.invite(email, temporary);
  const app = await t.open({ setup: routeConfig({ sign_up: "invite" }) });
  const { page, rec } = app;
  await logIn(page, email, temporary);
  const f = form(page, "Choose a new password");
  await f.waitFor();

  // Weak: the sign-up form's rules and words, before anything is sent.
  await f.getByLabel("New password", { exact: true }).fill("short");
  await f.getByLabel("Confirm new password").fill("short");
  await f.getByRole("button", { name: "Set password and log in" }).click();
  assert.equal(await textOf(page.locator("#newpw-error")), "The password still needs: at least 12 characters; an uppercase letter (A–Z); a digit (0–9); a symbol, such as ! @ # $ % & * ? -.");
  assert.equal(await f.getByLabel("New password", { exact: true }).getAttribute("aria-invalid"), "true");
  assert.equal(await page.evaluate(() => document.activeElement.id), "newpw-password");
  const met = Object.fromEntries(await page.locator("#newpw-rules li").evaluateAll((lis) => lis.map((li) => [li.dataset.rule, li.dataset.met])));
  assert.equal(met.lower, "true");
  assert.equal(met.length, "false");
  assert.equal(rec.cognito.filter((c) => c.target === "RespondToAuthChallenge").length, 0);

  // Weak by a rule the page does not know: Cognito's refusal, in words.
  // (cognito-local checks no policy, so Cognito's answers are played here.)
  let answer = [400, { __type: "InvalidPasswordException", message: "Password does not conform to policy: Password must not contain the username" }];
  await page.route("**/*", async (route) => {
    if (route.request().headers()["x-amz-target"] !== "AWSCognitoIdentityProviderService.RespondToAuthChallenge") return route.fallback();
    await route.fulfill({ status: answer[0], contentType: "application/x-amz-json-1.1", body: JSON.stringify(answer[1]) });
  });
  await f.getByLabel("New password", { exact: true }).fill("Long-Enough-Pass-1");
  await f.getByLabel("Confirm new password").fill("Long-Enough-Pass-1");
  await f.getByRole("button", { name: "Set password and log in" }).click();
  await eventually(async () => assert.equal(await textOf(page.locator("#newpw-error")),
    "The password does not meet the rules. Password does not conform to policy: Password must not contain the username"));
  assert.equal(await form(page, "Choose a new password").isVisible(), true);

  // Expired: Cognito's challenge session lasts 3 minutes.
  answer = [400, { __type: "NotAuthorizedException", message: "Invalid session for the user, session is expired." }];
  await f.getByRole("button", { name: "Set password and log in" }).click();
  await form(page, "Log in").waitFor();
  await eventually(async () => assert.match(await textOf(page.locator("#auth-notice")), /took too long \(the step lasts 3 minutes\)\. Log in again with the password you were given\./));
  assert.equal(await form(page, "Log in").getByRole("textbox", { name: "Email" }).inputValue(), email);
  assert.equal(await page.evaluate(() => document.activeElement.id), "login-password");
  await page.unroute("**/*");

  // Back to log in, by choice, then through for real.
  await logIn(page, email, temporary);
  await f.waitFor();
  await f.getByRole("button", { name: "Back to log in" }).click();
  await form(page, "Log in").waitFor();
  assert.equal(await page.locator("#newpw-password").inputValue(), "");
  await logIn(page, email, temporary);
  await f.waitFor();
  await f.getByLabel("New password", { exact: true }).fill("Long-Enough-Pass-1");
  await f.getByLabel("Confirm new password").fill("Long-Enough-Pass-1");
  await f.getByRole("button", { name: "Set password and log in" }).click();
  await waitForWorkspace(page);
  t.noPageErrors(app);
});

test("sign-up for some domains: the page names them and checks the address before sending", async () => {
  const app = await t.open({ setup: routeConfig({ sign_up: "domains", sign_up_domains: ["example.com", "corp.example"] }) });
  const { page, rec } = app;
  await page.getByRole("button", { name: "Create an account" }).click();
  const f = form(page, "Create an account");
  assert.equal(await textOf(page.locator("#signup-domains")), "Sign-up is open to addresses at example.com or corp.example.");
  await f.getByRole("textbox", { name: "Email" }).fill("someone@elsewhere.org");
  await f.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await f.getByRole("button", { name: "Create account" }).click();
  assert.equal(await textOf(page.locator("#signup-error")), "Only addresses at example.com or corp.example can sign up here.");
  assert.equal(await f.getByRole("textbox", { name: "Email" }).getAttribute("aria-invalid"), "true");
  assert.equal(rec.cognito.filter((c) => c.target === "SignUp").length, 0);
  await t.shot(page, "signup-domains");
  await f.getByRole("textbox", { name: "Email" }).fill(t.newEmail("insider"));
  await f.getByRole("button", { name: "Create account" }).click();
  await form(page, "Confirm your email").waitFor();
  t.noPageErrors(app);
});

test("the usage panel shows what today's jobs were charged, what is left, and another person's usage never", async () => {
  const app = await t.loggedIn("usage");
  const { page, rec } = app;
  const usage = page.getByRole("region", { name: "Your usage today" });
  const cell = (name) => textOf(usage.locator("dl div").filter({ has: page.getByText(name, { exact: true }) }).locator("dd"));
  await eventually(async () => assert.equal(await cell("Tokens used"), "0"));
  assert.equal(await cell("Left of your daily budget"), "2,000,000 of 2,000,000");
  assert.equal(await cell("Jobs queued or running"), "0 of at most 1,000");

  await submitPrompt(page, "Count the tokens of this one.", { maxTokens: 50 });
  await waitForStatus(page, "Succeeded");
  const used = Number((await stat(page, "Input tokens")).replace(/,/g, "")) + Number((await stat(page, "Output tokens")).replace(/,/g, ""));
  assert.ok(used > 0, "the job used tokens");
  // Its end releases what it reserved: only what the model charged stays.
  await eventually(async () => {
    assert.equal(await cell("Tokens used"), used.toLocaleString("en"));
    assert.equal(await cell("Reserved by unfinished jobs"), "0");
    assert.equal(await cell("Left of your daily budget"), `${(2_000_000 - used).toLocaleString("en")} of 2,000,000`);
    assert.equal(await cell("Jobs queued or running"), "0 of at most 1,000");
  });
  // The local model has no price: its tokens cost nothing, but the cost
  // is shown (unit tests check the formatting of real amounts).
  assert.equal(await cell("Estimated cost"), "$0.00");
  assert.match(await textOf(usage.locator("#usage-models")), /promptq local model \(not a real LLM\): \d[\d,]* in, \d[\d,]* out \(\$0\.00\)/);
  assert.ok(rec.api.some((r) => r.method === "GET" && r.path === "/usage"), "the page read GET /usage");

  const other = await t.loggedIn("usage-other");
  const otherUsage = other.page.getByRole("region", { name: "Your usage today" });
  await eventually(async () => assert.equal(
    await textOf(otherUsage.locator("dl div").filter({ has: other.page.getByText("Tokens used", { exact: true }) }).locator("dd")), "0"));
  t.noPageErrors(app, other);
});
