// Answers and jobs readable on every screen, at 1280x800 and on a phone
// (390x844, and 375 px wide): tables that keep whole words, prose that
// wraps, code never cut off in a box of its own, titles that wrap, and a
// running clock on one line.

import { test } from "node:test";
import assert from "node:assert/strict";

import { suite } from "../lib/suite.js";
import { textOf, submitPrompt, waitForStatus } from "../lib/app.js";

const t = suite();

const SIZES = [{ width: 1280, height: 800 }, { width: 390, height: 844 }];

// echo makes the local model answer with exactly text (localmodel's
// promptq-echo).
const echo = (text, lead = "Please repeat this.") => `${lead}\npromptq-echo\n${text}`;

const fitsWidth = (page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

// brokenWords lists the words of the elements' text that are split across
// lines (a break after a hyphen is not a split: "General-" "purpose").
function brokenWords(locator) {
  return locator.evaluateAll((els) => {
    const out = [];
    for (const el of els) {
      const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let node = walk.nextNode(); node; node = walk.nextNode()) {
        for (const m of node.data.matchAll(/[^\s-]+/g)) {
          const r = document.createRange();
          r.setStart(node, m.index);
          r.setEnd(node, m.index + m[0].length);
          const lines = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
          if (lines.size > 1) out.push(m[0]);
        }
      }
    }
    return out;
  });
}

test("tables keep whole words and scroll sideways inside the answer; long words in prose wrap; code is never cut off", async () => {
  const long = "Supercalifragilisticexpialidociouslyextraordinarilylongwordwithoutanybreaksatallwhatsoever";
  const md = [
    "| Algorithm | Best case | Worst case | Stable | Memory | Typical use |",
    "|---|---|---|---|---|---|",
    "| Quicksort | O(n log n) | O(n^2) | No | O(log n) | General-purpose sorting in memory |",
    "| Mergesort | O(n log n) | O(n log n) | Yes | O(n) | Linked lists and external sorting |",
    "| Heapsort | O(n log n) | O(n log n) | No | O(1) | Guaranteed worst case |",
    "",
    `A long word in prose: ${long}.`,
    "",
    "```js",
    ...Array.from({ length: 70 }, (_, i) => `console.log("line ${i + 1}");`),
    "```",
    "",
    "The end.",
  ].join("\n");
  for (const viewport of SIZES) {
    const app = await t.loggedIn("tables", { viewport });
    const { page } = app;
    await submitPrompt(page, echo(md), { maxTokens: 4000 });
    await waitForStatus(page, "Succeeded", 60_000);
    const r = page.locator(".job[data-current] .job-rendered");
    assert.equal(await r.locator("td").first().textContent(), "Quicksort");

    assert.deepEqual(await brokenWords(r.locator("th, td")), [], `${viewport.width} px: words broken inside table cells`);
    assert.ok(await fitsWidth(page), `${viewport.width} px: the page scrolls sideways`);
    const table = await r.locator("table").evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth, overflowX: getComputedStyle(el).overflowX }));
    if (viewport.width < 600) assert.ok(table.scroll > table.client && table.overflowX === "auto", `the table scrolls sideways inside the answer: ${JSON.stringify(table)}`);

    // The long word wraps inside the answer.
    const para = r.locator("p", { hasText: "A long word in prose" });
    assert.ok(await para.evaluate((el) => el.scrollWidth <= el.clientWidth), "the paragraph does not overflow");
    if (viewport.width < 600) assert.deepEqual(await brokenWords(para), [`${long}.`], "the long word wraps");

    // The whole code block is in the page: the answer box does not scroll
    // on its own and cut it off.
    const box = await page.locator(".job[data-current] .job-text").evaluate((el) => ({ scroll: el.scrollHeight, client: el.clientHeight }));
    assert.ok(box.scroll <= box.client + 1, `the answer box scrolls on its own: ${JSON.stringify(box)}`);
    const clipped = await r.locator(".codeblock pre").evaluate((pre) => {
      const out = pre.closest(".job[data-current] .job-text").getBoundingClientRect();
      const p = pre.getBoundingClientRect();
      return p.bottom > out.bottom + 1 || pre.scrollHeight > pre.clientHeight + 1;
    });
    assert.equal(clipped, false, "the code block is cut off");
    await r.getByText("The end.").scrollIntoViewIfNeeded();
    assert.ok(await r.getByText("The end.").isVisible());
    if (viewport.width < 600) await t.shot(page, "table-phone", { fullPage: true });
    t.noPageErrors(app);
  }
});

test("a prompt with a URL or a long unbroken word never makes the page scroll sideways: the title wraps, the status stays on screen", async () => {
  const prompts = [
    "https://example.com/a/very/long/path/that/never/breaks/anywhere/at/all/index.html?query=somethinglong&and=more",
    "Pneumonoultramicroscopicsilicovolcanoconiosisandfloccinaucinihilipilificationtogether please",
  ];
  for (const viewport of [{ width: 375, height: 812 }, ...SIZES]) {
    const app = await t.loggedIn("urls", { viewport });
    const { page } = app;
    for (const prompt of prompts) {
      await submitPrompt(page, prompt, { maxTokens: 5 });
      await waitForStatus(page, "Succeeded", 60_000);
      assert.ok(await fitsWidth(page), `${viewport.width} px: the page scrolls sideways for ${prompt}`);
      const badge = await page.locator(".job[data-current] .job-status").boundingBox();
      assert.ok(badge.x >= 0 && badge.x + badge.width <= viewport.width, `${viewport.width} px: the status badge is off screen: ${JSON.stringify(badge)}`);
      const title = await page.locator(".job[data-current] .job-title").evaluate((el) => ({ sw: el.scrollWidth, cw: el.clientWidth }));
      assert.ok(title.sw <= title.cw, `${viewport.width} px: the title overflows: ${JSON.stringify(title)}`);
    }
    if (viewport.width === 375) await t.shot(page, "phone-title");
    t.noPageErrors(app);
  }
});

test("the running clock stays on one line beside a title of two lines", async () => {
  for (const viewport of SIZES) {
    const app = await t.loggedIn("clock", { viewport });
    const { page } = app;
    await page.getByRole("textbox", { name: "Prompt" }).fill("Explain exponential backoff with jitter to a new engineer on the team. promptq-fault:hang");
    await page.getByRole("button", { name: "Generate" }).click();
    await waitForStatus(page, "Running", 30_000);
    const m = await page.evaluate(() => {
      const title = document.querySelector(".job[data-current] .job-title");
      const clock = document.querySelector(".job[data-current] .job-elapsed");
      const line = (el) => parseFloat(getComputedStyle(el).lineHeight);
      return { titleLines: title.getBoundingClientRect().height / line(title), clock: clock.getBoundingClientRect().height, clockLine: line(clock), text: clock.textContent };
    });
    assert.ok(m.titleLines >= 1.9, `${viewport.width} px: the title takes two lines or more: ${JSON.stringify(m)}`);
    assert.match(m.text, /^\d+ s$/);
    assert.ok(m.clock < 1.5 * m.clockLine, `${viewport.width} px: the clock wraps: ${JSON.stringify(m)}`);
    assert.ok(await fitsWidth(page));
    await page.getByRole("button", { name: "Cancel job" }).click();
    await waitForStatus(page, "Cancelled");
    t.noPageErrors(app);
  }
});
