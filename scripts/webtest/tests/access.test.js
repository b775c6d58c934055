// The page for keyboard, screen-reader and touch users: focus after
// Cancel, what is announced, accessible names, a job link that leads
// nowhere, the plain view, and, on a phone, where the history starts and
// how big each target is (WCAG 2.5.8: at least 24 by 24 px).

import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";

import { suite } from "../lib/suite.js";
import { eventually, textOf, form, submitPrompt, waitForStatus, watchAnnouncements } from "../lib/app.js";

const t = suite();

const PHONE = { width: 390, height: 844 };

const echo = (text, lead = "Please repeat this.") => `${lead}\npromptq-echo\n${text}`;

test("after Cancel, focus stays in the job, not on the page body", async () => {
  const app = await t.loggedIn("canceller");
  const { page } = app;
  await submitPrompt(page, "Wait for me. promptq-fault:hang");
  await waitForStatus(page, "Running", 30_000);
  await page.getByRole("button", { name: "Cancel job" }).focus();
  await page.keyboard.press("Enter");
  await waitForStatus(page, "Cancelled");
  const focused = await page.evaluate(() => ({ id: document.activeElement.className, inJob: document.querySelector(".job[data-current]").contains(document.activeElement) }));
  assert.ok(focused.inJob, `focus went to ${JSON.stringify(focused)}`);
  assert.match(focused.id, /\bjob-again\b/, "the next thing to do: run it again");
  t.noPageErrors(app);
});

test("the usage panel is no live region: its refreshes are not read out, an Update asked for is, once", async () => {
  const app = await t.loggedIn("listener");
  const { page } = app;
  const usage = page.locator("#usage");
  await eventually(async () => assert.equal(await textOf(usage.locator("#usage-charged")), "0"));
  const live = await usage.evaluate((el) => {
    const sel = "[aria-live], [role=status], [role=alert], [role=log], [role=marquee], [role=timer]";
    return [el.closest(sel)?.id ?? null, ...[...el.querySelectorAll(sel)].map((e) => e.id || e.tagName)];
  });
  assert.deepEqual(live, [null], "a live region in or around the usage panel");
  const said = await watchAnnouncements(page);
  await submitPrompt(page, "Count me.", { maxTokens: 5 });
  await waitForStatus(page, "Succeeded", 60_000);
  await eventually(async () => assert.notEqual(await textOf(usage.locator("#usage-charged")), "0"));
  await sleep(500);
  assert.deepEqual((await said()).filter((s) => /usage|tokens used|cost/i.test(s)), [], "usage read out on its own");
  await page.getByRole("button", { name: "Update" }).click();
  await eventually(async () => assert.deepEqual((await said()).filter((s) => /usage/i.test(s)).length, 1));
  assert.match((await said()).find((s) => /usage/i.test(s)), /^Usage updated: \d[\d,]* tokens used today/);
  t.noPageErrors(app);
});

test("history links are named in sentences: no \"..\" after a title", async () => {
  const app = await t.loggedIn("namer");
  const { page } = app;
  await submitPrompt(page, "First job.", { maxTokens: 5 });
  await waitForStatus(page, "Succeeded", 60_000);
  await submitPrompt(page, "Explain exponential backoff with jitter to a new engineer on the team, with examples.", { maxTokens: 5 });
  await waitForStatus(page, "Succeeded", 60_000);
  await eventually(async () => assert.equal(await page.locator("#history-list a").count(), 2));
  const names = await page.locator("#history-list a").evaluateAll((as) => as.map((a) => a.getAttribute("aria-label")));
  for (const name of names) assert.doesNotMatch(name, /\.\.|…\.|\.\s*\./, name);
  assert.match(names[1], /^First job\. Succeeded, /);
  assert.match(names[0], /^Explain exponential backoff with jitter to a new engineer on… Succeeded, /);
  t.noPageErrors(app);
});

test("a job link that leads nowhere says so, with no empty answer and no tools", async () => {
  const app = await t.loggedIn("lost");
  const { page } = app;
  await page.evaluate((id) => {
    location.hash = `#job/${id}`;
  }, randomUUID());
  await waitForStatus(page, "Not found");
  const job = page.locator(".job[data-current]");
  assert.match(await textOf(job.locator(".job-warning")), /^No such job/);
  assert.equal(await job.getByRole("region", { name: "Generated text" }).isVisible(), false, "an empty answer box");
  for (const name of ["Show plain text", "Copy text", "Edit as a new prompt", "Run again", "Cancel job"]) {
    assert.equal(await job.getByRole("button", { name }).isVisible(), false, `${name} for a job that does not exist`);
  }
  assert.equal(await job.locator(".job-prompt-box").isVisible(), false);
  t.noPageErrors(app);
});

test("the plain-text view is in a monospace font", async () => {
  const app = await t.loggedIn("plain");
  const { page } = app;
  await submitPrompt(page, echo("| a | b |\n|---|---|\n| 1 | 2 |"), { maxTokens: 100 });
  await waitForStatus(page, "Succeeded", 60_000);
  await page.getByRole("button", { name: "Show plain text" }).click();
  const font = await page.locator(".job[data-current] .job-plain").evaluate((el) => getComputedStyle(el).fontFamily);
  assert.match(font, /monospace/, font);
  t.noPageErrors(app);
});

// targets lists the visible targets smaller than min px either way, but
// links inside a line of text (which WCAG 2.5.8 leaves out).
function smallTargets(page, min = 24) {
  return page.evaluate((min) => {
    const sel = "a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], [tabindex]:not([tabindex='-1'])";
    return [...document.querySelectorAll(sel)]
      .filter((el) => el.checkVisibility() && el.getClientRects().length)
      .filter((el) => !(el.matches("a") && el.closest("p, li, td, th, blockquote") && el.closest(".job[data-current] .job-rendered")))
      .filter((el) => !el.matches(".skip")) // off screen until focused
      .map((el) => ({ el, r: el.getBoundingClientRect() }))
      .filter(({ r }) => r.width < min || r.height < min)
      .map(({ el, r }) => `${el.tagName.toLowerCase()}#${el.id || ""}.${el.className || ""} "${(el.textContent || el.value || "").trim().slice(0, 30)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
  }, min);
}

test("on a phone the history starts within reach, every target is at least 24 px and the main buttons 44 px", async () => {
  const app = await t.open({ viewport: PHONE });
  const { page } = app;
  assert.deepEqual(await smallTargets(page), [], "log-in form");
  for (const name of ["Log in"]) {
    assert.ok((await form(page, "Log in").getByRole("button", { name }).boundingBox()).height >= 44, `${name} is 44 px tall`);
  }
  await page.getByRole("button", { name: "Create an account" }).click();
  assert.deepEqual(await smallTargets(page), [], "sign-up form");
  await form(page, "Create an account").getByRole("button", { name: "Log in" }).click();
  await page.getByRole("button", { name: "Enter your code" }).click();
  assert.deepEqual(await smallTargets(page), [], "confirm form");
  await app.context.close();

  const user = await t.loggedIn("thumb", { viewport: PHONE });
  const p = user.page;
  await submitPrompt(p, echo("Say hi, with a [link](https://example.com) and code:\n\n```sh\necho hi\n```"));
  await waitForStatus(p, "Succeeded", 60_000);
  await eventually(async () => assert.equal(await p.locator("#history-list a").count(), 1));
  const top = await p.locator("#history").evaluate((el) => el.getBoundingClientRect().top + window.scrollY);
  assert.ok(top < 1700, `the history starts ${Math.round(top)} px down the page`);
  assert.deepEqual(await smallTargets(p), [], "the workspace with a job");
  await p.locator(".job[data-current] .job-prompt-box summary").click();
  assert.deepEqual(await smallTargets(p), [], "the workspace with the prompt shown");
  assert.ok((await p.getByRole("button", { name: "Generate" }).boundingBox()).height >= 44, "Generate is 44 px tall");
  t.noPageErrors(user);
});
