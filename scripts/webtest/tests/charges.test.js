// Every job says what it was charged (issue 32, item 4), at 1280x800 and
// 390x844: a cancelled job and a failed one too, as the usage panel counts
// them, and the panel's total is the sum of the day's jobs.

import { test } from "node:test";
import assert from "node:assert/strict";

import { suite } from "../lib/suite.js";
import { eventually, textOf, submitPrompt } from "../lib/app.js";

const t = suite();

const SIZES = [{ width: 1280, height: 800 }, { width: 390, height: 844 }];

const card = (page, id) => page.locator(`.job[data-job-id="${id}"]`);
const statusOf = (page, id) => textOf(card(page, id).locator(".job-status"));
const statOf = (page, id, name) => textOf(card(page, id).locator(".job-stats div").filter({ has: page.getByText(name, { exact: true }) }).locator("dd"));
const number = (s) => Number(s.replace(/,/g, ""));

test("every job shows what it was charged, cancelled and failed ones too, and the usage panel's total is their sum", async () => {
  for (const viewport of SIZES) {
    const app = await t.loggedIn("charged", { viewport });
    const { page } = app;
    const usage = page.getByRole("region", { name: "Your usage today" });
    const cell = (name) => textOf(usage.locator("dl div").filter({ has: page.getByText(name, { exact: true }) }).locator("dd"));

    const hung = await submitPrompt(page, "Wait for me, then be cancelled. promptq-fault:hang");
    await eventually(async () => assert.equal(await statusOf(page, hung), "Running"), { timeoutMs: 30_000 });
    const ok = await submitPrompt(page, "A short answer, please.", { maxTokens: 30 });
    const bad = await submitPrompt(page, "This one breaks. promptq-fault:invalid");
    await card(page, hung).getByRole("button", { name: "Cancel job" }).click();
    await eventually(async () => {
      assert.equal(await statusOf(page, ok), "Succeeded");
      assert.equal(await statusOf(page, bad), "Failed");
      assert.equal(await statusOf(page, hung), "Cancelled");
    }, { timeoutMs: 30_000 });

    // The cancelled job's worker charges the call it stopped, a moment
    // after the cancel: the card says so, then what it was.
    await eventually(async () => assert.match(await statOf(page, hung, "Charged"), /^[1-9][\d,]* tokens · \$0\.00$/), { timeoutMs: 60_000 });
    assert.doesNotMatch(await statOf(page, hung, "Input tokens"), /not counted/);
    assert.ok(number(await statOf(page, hung, "Input tokens")) > 0);
    for (const id of [ok, bad]) assert.match(await statOf(page, id, "Charged"), /^[\d,]+ tokens? · \$0\.00$/);

    let sum = 0;
    for (const id of [hung, ok, bad]) sum += number((await statOf(page, id, "Charged")).split(" ")[0]);
    assert.ok(sum > 0);
    await eventually(async () => assert.equal(await cell("Tokens used"), sum.toLocaleString("en")));
    if (viewport.width > 500) await t.shot(page, "charged", { fullPage: true });
    t.noPageErrors(app);
  }
});
