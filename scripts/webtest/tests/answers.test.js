// Answers as people read them, and kept safe: Markdown rendered into
// elements, code blocks with copy buttons, the plain text a click away;
// markup from the model or the prompt shown inert; the page's
// Content-Security-Policy the one web/security-headers.json defines (the
// stack's CloudFront policy is built from the same file: make
// test-stack checks that side).

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { REPO_ROOT } from "../lib/devstack.js";
import { suite } from "../lib/suite.js";
import { eventually, textOf, submitPrompt, waitForStatus } from "../lib/app.js";

const t = suite();

// echo makes the local model answer with exactly text (localmodel's
// promptq-echo).
const echo = (text, lead = "Please repeat this.") => `${lead}\npromptq-echo\n${text}`;

const rendered = (page) => page.locator(".job[data-current] .job-rendered");

test("the page is served with the headers of web/security-headers.json, and its policy holds", async () => {
  const file = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "web", "security-headers.json"), "utf8"));
  const origin = (u) => new URL(u).origin;
  const app = await t.open();
  const { page } = app;
  const config = await (await fetch(`${t.stack.info.web_url}/config.json`)).json();
  const fill = (v) => v.replaceAll("{api_origin}", origin(config.api_url)).replaceAll("{cognito_origin}", origin(config.cognito_endpoint));
  for (const url of [`${t.stack.info.web_url}/`, `${t.stack.info.web_url}/js/app.js`, `${t.stack.info.web_url}/config.json`]) {
    const res = await page.request.get(url);
    const headers = res.headers();
    for (const [k, v] of Object.entries(file.headers)) assert.equal(headers[k.toLowerCase()], fill(v), `${url}: ${k}`);
  }
  const csp = fill(file.headers["Content-Security-Policy"]);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);

  // The browser enforces it: no string becomes script or HTML (Trusted
  // Types), and each refusal is reported. (eval is left out: DevTools'
  // evaluation, which drives this test, is exempt from the page's policy;
  // the header above has no unsafe-eval.)
  const outcome = await page.evaluate(() => {
    const tryIt = (f) => {
      try {
        f();
        return "allowed";
      } catch (e) {
        return e.name;
      }
    };
    window.__ran = false;
    return {
      script: tryIt(() => {
        const s = document.createElement("script");
        s.textContent = "window.__ran = true";
        document.body.append(s);
      }),
      html: tryIt(() => {
        document.createElement("div").innerHTML = "<img src=x onerror='window.__ran = true'>";
      }),
      ran: window.__ran,
    };
  });
  assert.deepEqual(outcome, { script: "TypeError", html: "TypeError", ran: false });
  await eventually(() => assert.ok(app.rec.csp.length >= 1, "Chromium reported the refusal"));
  app.rec.csp.length = 0; // what this test provoked; no other violation may occur
  t.noPageErrors(app);
});

test("an answer in Markdown is rendered: headings, lists, a table, code with a copy button; the plain text is a click away", async () => {
  const app = await t.loggedIn("reader");
  const { page } = app;
  const md = [
    "# Queues",
    "",
    "Some **bold** and *emphasis*, `inline code` and a [link](https://example.com/docs).",
    "",
    "1. first",
    "2. second",
    "",
    "- [x] done",
    "- [ ] not yet",
    "",
    "| name | jobs |",
    "|:-----|-----:|",
    "| ada  | 12   |",
    "",
    "```go",
    "func main() {",
    '\tfmt.Println("hi < there")',
    "}",
    "```",
  ].join("\n");
  await submitPrompt(page, echo(md), { maxTokens: 4000 });
  await waitForStatus(page, "Succeeded", 60_000);
  const r = rendered(page);
  assert.equal(await textOf(r.getByRole("heading", { name: "Queues" })), "Queues");
  assert.equal(await r.locator("strong").first().textContent(), "bold");
  assert.deepEqual(await r.locator("ol > li").allTextContents(), ["first", "second"]);
  assert.equal(await r.getByRole("table").count(), 1);
  assert.deepEqual(await r.locator("td").allTextContents(), ["ada", "12"]);
  const link = r.getByRole("link", { name: "link" });
  assert.equal(await link.getAttribute("href"), "https://example.com/docs");
  assert.equal(await link.getAttribute("rel"), "noopener noreferrer nofollow");
  assert.equal(await r.locator("pre code").textContent(), 'func main() {\n\tfmt.Println("hi < there")\n}');
  await t.shot(page, "markdown", { fullPage: true });

  // The code block's own copy button copies just the code.
  await r.getByRole("button", { name: "Copy code" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'func main() {\n\tfmt.Println("hi < there")\n}');

  // Plain text, one click away, exactly as the model wrote it.
  await page.getByRole("button", { name: "Show plain text" }).click();
  const plain = page.locator(".job[data-current] .job-plain");
  assert.equal(await plain.isVisible(), true);
  assert.equal(await rendered(page).isVisible(), false);
  assert.ok((await plain.textContent()).endsWith(md));
  await page.getByRole("button", { name: "Copy text" }).click();
  assert.ok((await page.evaluate(() => navigator.clipboard.readText())).endsWith(md));
  await page.getByRole("button", { name: "Show formatted" }).click();
  assert.equal(await rendered(page).isVisible(), true);
  t.noPageErrors(app);
});

test("markup from the model or the prompt is shown inert: no element, no script, no javascript: link", async () => {
  const app = await t.loggedIn("mallory");
  const { page, context } = app;
  await page.evaluate(() => {
    window.__xss = 0;
  });
  const outside = [];
  page.on("request", (req) => {
    if (req.url().includes("tracker.example")) outside.push(req.url());
  });
  const payloads = [
    "<img src=x onerror=\"window.__xss++\">",
    "<script>window.__xss++</script>",
    "<iframe src=\"javascript:window.__xss++\"></iframe>",
    "[click me](javascript:window.__xss++)",
    "[smuggled](<javascript:window.__xss++>) and [entity](jav&#x61;script:window.__xss++)",
    "![pixel](javascript:window.__xss++) ![remote](https://tracker.example/p.png)",
    "<a href=\"javascript:window.__xss++\">html link</a>",
    "<svg onload=\"window.__xss++\"><script>window.__xss++</script></svg>",
    "Inline <b onmouseover=\"window.__xss++\">bold?</b> &lt;i&gt;",
    "<details open ontoggle=\"window.__xss++\"><summary>x</summary></details>",
  ].join("\n\n");
  // The prompt carries markup too (shown in the job card and the history).
  const lead = '<img src=x onerror="window.__xss++"> Please repeat this.';
  await submitPrompt(page, echo(payloads, lead), { maxTokens: 4000 });
  await waitForStatus(page, "Succeeded", 60_000);
  await page.locator(".job[data-current] .job-prompt-box summary").click();

  // Nothing the answer or prompt named became an element, wherever they
  // are shown.
  const shown = page.locator(".job[data-current] .job-rendered, .job[data-current] .job-title, .job[data-current] .job-prompt, #history-list");
  for (const tag of ["img", "script", "iframe", "svg", "details", "b"]) {
    assert.equal(await shown.locator(tag).count(), 0, `a <${tag}> made from the answer or the prompt`);
  }
  assert.equal(await page.locator("img, script:not([src]), iframe, svg").count(), 0);
  // The only links are safe ones: the https image as a link (not loaded).
  const hrefs = await page.locator(".job[data-current] .job-rendered a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
  assert.deepEqual(hrefs, ["https://tracker.example/p.png"]);
  // The markup is there, as text to read.
  const text = await textOf(rendered(page));
  for (const piece of ['<img src=x onerror="window.__xss++">', "<script>window.__xss++</script>", "click me (javascript:window.__xss++)"]) {
    assert.ok(text.includes(piece), `shown as text: ${piece}`);
  }
  assert.ok((await textOf(page.locator(".job[data-current] .job-prompt"))).startsWith('<img src=x onerror="window.__xss++">'));
  // Hovering and clicking what looks like a link runs nothing.
  await rendered(page).getByText("bold?").hover();
  await rendered(page).getByText("click me").click();
  assert.equal(await page.evaluate(() => window.__xss), 0);
  // The remote image was never fetched, and no window was opened.
  assert.deepEqual(outside, []);
  assert.equal(context.pages().length, 1);
  t.noPageErrors(app);
});
