// Several jobs at once (issue 32, item 10), at 1280x800 and 390x844: jobs
// sent one after another each keep a card, with its status, clock and
// text, while they run; a card closes; an answer cut at max tokens goes on
// in a new job with Continue.

import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";

import { suite } from "../lib/suite.js";
import { eventually, textOf, submitPrompt, waitForStatus, historyIds } from "../lib/app.js";

const t = suite();

const SIZES = [{ width: 1280, height: 800 }, { width: 390, height: 844 }];

const echo = (text, lead = "Please repeat this.") => `${lead}\npromptq-echo\n${text}`;

const card = (page, id) => page.locator(`.job[data-job-id="${id}"]`);
const cardIds = (page) => page.locator("#jobs > .job").evaluateAll((els) => els.map((el) => el.dataset.jobId));
const statusOf = (page, id) => textOf(card(page, id).locator(".job-status"));

test("jobs sent one after another stay in view as a stack of cards while they run, and a card closes", async () => {
  for (const viewport of SIZES) {
    const app = await t.loggedIn("stacker", { viewport });
    const { page, rec } = app;
    const a = await submitPrompt(page, "The first of three, still running. promptq-fault:hang");
    await eventually(async () => assert.equal(await statusOf(page, a), "Running"), { timeoutMs: 30_000 });
    const b = await submitPrompt(page, "The second, also running. promptq-fault:hang");
    await eventually(async () => assert.equal(await statusOf(page, b), "Running"), { timeoutMs: 30_000 });
    const c = await submitPrompt(page, echo("Done at once."));
    await eventually(async () => assert.equal(await statusOf(page, c), "Succeeded"), { timeoutMs: 30_000 });

    // Newest first, each a card of its own; the first is the one the
    // address names.
    assert.deepEqual(await cardIds(page), [c, b, a]);
    assert.equal(await page.locator('.job[data-current="true"]').getAttribute("data-job-id"), c);
    assert.match(page.url(), new RegExp(`#job/${c}$`));
    for (const id of [a, b]) {
      assert.equal(await statusOf(page, id), "Running", "a job sent earlier still shows running");
      assert.match(await textOf(card(page, id).locator(".job-elapsed")), /^\d+ s$/, "with its clock");
      assert.equal(await card(page, id).getByRole("button", { name: "Cancel job" }).isVisible(), true);
    }
    assert.ok((await textOf(card(page, c).locator(".job-plain"))).endsWith("Done at once."));
    await t.shot(page, viewport.width < 500 ? "stack-phone" : "stack", { fullPage: true });

    // Closing a card leaves its job running (the history has it) and
    // moves focus on; closing the first one, the address too.
    await card(page, b).getByRole("button", { name: /^Close / }).click();
    const closedAt = Date.now();
    assert.deepEqual(await cardIds(page), [c, a]);
    assert.ok((await historyIds(page)).includes(b), "a closed job stays in the history");
    assert.equal(await textOf(page.locator(`#history-list li[data-job-id="${b}"] .badge`)), "Running");
    assert.match(page.url(), new RegExp(`#job/${c}$`));
    await card(page, c).getByRole("button", { name: /^Close / }).click();
    assert.deepEqual(await cardIds(page), [a]);
    assert.match(page.url(), new RegExp(`#job/${a}$`));
    assert.match(await page.evaluate(() => document.activeElement.className), /\bjob-title\b/, "focus on the next card's title");
    assert.equal(await page.evaluate(() => document.activeElement.closest(".job")?.dataset.jobId), a);

    // A closed card polls no more (a running job's card polls every
    // second or two); the others go on.
    await sleep(3000);
    assert.deepEqual(rec.api.filter((r) => r.path === `/jobs/${b}` && r.at > closedAt + 200).map((r) => r.at - closedAt), []);
    assert.ok(rec.api.some((r) => r.path === `/jobs/${a}` && r.at > closedAt + 200), "the running job still open is polled");

    // Reopening a closed job from the history brings its card back, first.
    await page.locator(`#history-list li[data-job-id="${b}"] a`).click();
    await eventually(async () => assert.deepEqual(await cardIds(page), [b, a]));
    for (const id of [a, b]) await card(page, id).getByRole("button", { name: "Cancel job" }).click();
    for (const id of [a, b]) await eventually(async () => assert.equal(await statusOf(page, id), "Cancelled"));
    t.noPageErrors(app);
  }
});

test("Continue goes on with an answer cut at max tokens, as a new job that starts with its text", async () => {
  for (const viewport of SIZES) {
    const app = await t.loggedIn("continuer", { viewport });
    const { page, rec } = app;
    const words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen";
    const first = await submitPrompt(page, echo(words, "Count for me."), { maxTokens: 12 });
    await waitForStatus(page, "Succeeded", 30_000);
    assert.match(await textOf(card(page, first).locator(".stat-stop")), /max tokens/);
    const cut = await textOf(card(page, first).locator(".job-plain"));
    assert.ok(!cut.endsWith("fourteen"), `the answer was cut: ${cut}`);

    await card(page, first).getByRole("button", { name: "Continue" }).click();
    await eventually(() => assert.ok(!page.url().endsWith(first) && /#job\/[0-9a-f-]{36}$/.test(page.url())));
    const next = page.url().split("#job/")[1];
    assert.deepEqual((await cardIds(page)).slice(0, 2), [next, first], "the continuation opens first, the job it continues stays");
    assert.ok((await historyIds(page)).includes(next), "in the history at once");
    const post = rec.api.filter((r) => r.method === "POST" && r.path === "/generate").at(-1);
    assert.equal(post.status, 202);
    await waitForStatus(page, "Succeeded", 30_000);
    const whole = await textOf(card(page, next).locator(".job-plain"));
    assert.ok(whole.startsWith(cut) && whole.endsWith("fourteen"), `the continuation: ${whole}`);
    assert.equal(whole.split("one two").length, 2, "the text is not written twice");
    assert.match(await textOf(card(page, next).locator(".job-meta")), new RegExp(`continues job …${first.slice(-8)}`));
    assert.match(await textOf(card(page, next).locator(".stat-stop")), /complete/);
    assert.equal(await card(page, next).getByRole("button", { name: "Continue" }).isVisible(), false, "no Continue for a complete answer");
    assert.equal(await textOf(card(page, first).locator(".job-plain")), cut, "the job continued is as it ended");
    if (viewport.width > 500) await t.shot(page, "continued", { fullPage: true });
    t.noPageErrors(app);
  }
});
