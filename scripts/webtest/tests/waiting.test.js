// A job being retried or held back says why it waits and what comes next
// (issue 32, item 3), at 1280x800 and 390x844: a try that failed (which of
// how many, why, the next try's countdown), waiting for capacity (a
// throttle), waiting for the economy run.

import { test } from "node:test";
import assert from "node:assert/strict";

import { suite, PASSWORD } from "../lib/suite.js";
import { eventually, textOf, submitPrompt } from "../lib/app.js";

const t = suite();

const SIZES = [{ width: 1280, height: 800 }, { width: 390, height: 844 }];

const card = (page, id) => page.locator(`.job[data-job-id="${id}"]`);
const waitOf = (page, id) => textOf(card(page, id).locator(".job-wait"));

test("a job whose try failed says which try of how many, why, and when the next starts", async () => {
  for (const viewport of SIZES) {
    const app = await t.loggedIn("retried", { viewport });
    const { page } = app;
    const id = await submitPrompt(page, "Half an answer, then the stream breaks. promptq-fault:midstream");
    let first;
    await eventually(async () => {
      first = await waitOf(page, id);
      assert.match(first, /^Retrying: try 1 of 5 failed: .*promptq-fault:midstream.*\. The next try starts in about \d+ s\.$/);
    }, { timeoutMs: 30_000 });
    assert.equal(await textOf(card(page, id).locator(".job-status")), "Queued");
    // It counts down, without asking the API each second.
    const secs = (s) => Number(/in about (\d+) s/.exec(s)?.[1]);
    await eventually(async () => assert.ok(secs(await waitOf(page, id)) < secs(first)), { timeoutMs: 5_000 });
    // The text written before the break is kept, and shown.
    assert.match(await textOf(card(page, id).locator(".job-plain")), /promptq local model/);
    if (viewport.width < 500) await t.shot(page, "retrying-phone", { fullPage: true });
    await card(page, id).getByRole("button", { name: "Cancel job" }).click();
    await eventually(async () => assert.equal(await textOf(card(page, id).locator(".job-status")), "Cancelled"));
    assert.equal(await card(page, id).locator(".job-wait").isVisible(), false, "a job that ended waits for nothing");
    t.noPageErrors(app);
  }
});

test("a job the model's quota holds back says it waits for capacity, and that it is no failed try", async () => {
  for (const viewport of SIZES) {
    const app = await t.loggedIn("throttled", { viewport });
    const { page } = app;
    const id = await submitPrompt(page, "Refused for the quota, again and again. promptq-fault:throttle");
    await eventually(async () => assert.match(await waitOf(page, id),
      /^Waiting for capacity: the model turned the call away for its quota \(a throttle, not a failed try\)\. Next try (in about \d+ s|any moment now)\.$/), { timeoutMs: 60_000 });
    await card(page, id).getByRole("button", { name: "Cancel job" }).click();
    await eventually(async () => assert.equal(await textOf(card(page, id).locator(".job-status")), "Cancelled"));
    t.noPageErrors(app);
  }
});

test("an economy job says it waits for the economy run", async () => {
  for (const viewport of SIZES) {
    const app = await t.loggedIn("economist", { viewport });
    const { page } = app;
    const tokens = await t.admin.logIn(app.email, PASSWORD);
    const res = await fetch(`${t.stack.info.api_url}/generate/batch`, {
      method: "POST",
      headers: { Authorization: `Bearer ${tokens.AccessToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ lane: "economy", requests: [{ prompt: "Cheaper, later." }] }),
    });
    assert.equal(res.status, 202);
    const id = (await res.json()).results[0].job_id;
    await page.evaluate((id) => {
      location.hash = `#job/${id}`;
    }, id);
    await eventually(async () => assert.match(await waitOf(page, id), /^Waiting for the economy run: .*batch inference.*within hours\.$/));
    assert.match(await textOf(card(page, id).locator(".job-meta")), /economy/);
    t.noPageErrors(app);
  }
});
