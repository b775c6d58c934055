// Search on the server (issue 32, item 9), at 1280x800 and 390x844: the
// search box finds jobs by any word of their prompts and answers, beyond
// the first 280 characters and beyond the jobs the history has loaded;
// a query the API refuses says why.

import { test } from "node:test";
import assert from "node:assert/strict";

import { suite, PASSWORD } from "../lib/suite.js";
import { eventually, textOf, historyIds } from "../lib/app.js";

const t = suite();

const SIZES = [{ width: 1280, height: 800 }, { width: 390, height: 844 }];

const padding = "A long preamble that pushes what follows past the listing's preview. ".repeat(6); // over 280 characters

test("the search box finds jobs by any word of their prompts and answers, in the whole history", async () => {
  for (const viewport of SIZES) {
    const app = await t.loggedIn("searcher", { viewport });
    const { page, rec } = app;
    const tokens = await t.admin.logIn(app.email, PASSWORD);
    const send = async (prompt) => {
      const res = await fetch(`${t.stack.info.api_url}/generate`, {
        method: "POST",
        headers: { Authorization: `Bearer ${tokens.AccessToken}`, "Content-Type": "application/json" },
        body: JSON.stringify({ prompt, max_tokens: 400 }),
      });
      assert.equal(res.status, 202);
      return (await res.json()).job_id;
    };
    // The oldest two: a word deep in a prompt, and one deep in an answer;
    // then more jobs than the history's first page.
    const deep = await send(`${padding}Now describe a xenolith.`);
    const answered = await send(`Please repeat this.\npromptq-echo\n${padding}The quasar shines.`);
    const later = [];
    for (let i = 0; i < 22; i++) later.push(await send(`Later job number ${i}.`));
    const job = async (id) => (await (await fetch(`${t.stack.info.api_url}/jobs/${id}`, { headers: { Authorization: `Bearer ${tokens.AccessToken}` } })).json());
    await eventually(async () => assert.equal((await job(answered)).status, "succeeded"), { timeoutMs: 60_000 });

    await page.getByRole("button", { name: "Refresh" }).click();
    await eventually(async () => assert.equal((await historyIds(page)).length, 20));
    const listed = await historyIds(page);
    assert.ok(!listed.includes(deep) && !listed.includes(answered), "neither is in the page of history loaded");

    const search = page.getByRole("searchbox", { name: "Search your jobs" });
    await search.fill("XENOLITH");
    await eventually(async () => assert.deepEqual(await historyIds(page), [deep]));
    assert.ok(rec.api.some((r) => r.method === "GET" && /^\/jobs\?.*q=XENOLITH/.test(r.path) && r.status === 200), "asked the API");
    await search.fill("quasar shines");
    await eventually(async () => assert.deepEqual(await historyIds(page), [answered]));
    if (viewport.width > 500) await t.shot(page, "search");
    await search.fill("xenolith quasar");
    await eventually(async () => assert.match(await textOf(page.locator("#history-none")), /^No job of yours matches “xenolith quasar”\.$/));
    assert.deepEqual(await historyIds(page), []);
    // Reopened from a result.
    await search.fill("xenolith");
    await eventually(async () => assert.deepEqual(await historyIds(page), [deep]));
    await page.locator(`#history-list li[data-job-id="${deep}"] a`).click();
    await eventually(async () => assert.match(await textOf(page.locator(".job[data-current] .job-prompt")), /Now describe a xenolith\.$/));

    // A query with no word is refused by the API, which names q; the page
    // says so under the box.
    await search.fill("?!");
    await eventually(async () => assert.match(await textOf(page.locator("#history-search-error")), /^q must have a word/));
    assert.equal(await search.getAttribute("aria-invalid"), "true");
    await search.fill("");
    await eventually(async () => assert.deepEqual((await historyIds(page)).slice(0, 3), [later[21], later[20], later[19]]));
    assert.equal(await page.locator("#history-search-error").isVisible(), false);
    t.noPageErrors(app);
  }
});
