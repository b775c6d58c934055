// The settings follow the chosen model (internal/catalogue, through
// config.json): each model listed once, the default first, with its prices
// per million tokens, output limit and end of life; a temperature only
// where the model takes one, an effort choice where it takes one; and,
// under make dev, the local stand-in named and priced at $0. The dev stack
// here allows the Claude 5.5 models and Haiku 4.5 beside its local model,
// with Claude Haiku 5.5 the default, as a deployed stack has it.

import { test } from "node:test";
import assert from "node:assert/strict";

import { suite } from "../lib/suite.js";
import { eventually, textOf, submitPrompt, waitForStatus, openSettings } from "../lib/app.js";

const HAIKU55 = "us.anthropic.claude-haiku-5-5";
const OPUS55 = "us.anthropic.claude-opus-5-5";
const HAIKU45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0";

const t = suite({ env: { PROMPTQ_MODELS: [HAIKU55, OPUS55, HAIKU45].join(","), PROMPTQ_DEFAULT_MODEL: HAIKU55 } });

const SIZES = [{ width: 1280, height: 800 }, { width: 390, height: 844 }];

// posted records the bodies of the page's POST /generate requests.
function posted(page) {
  const bodies = [];
  page.on("request", (req) => {
    if (req.method() === "POST" && req.url() === `${t.stack.info.api_url}/generate`) bodies.push(JSON.parse(req.postData()));
  });
  return bodies;
}

test("each model is listed once, the default first, with its prices, output limit and end of life, its name whole", async () => {
  for (const viewport of SIZES) {
    const app = await t.loggedIn("chooser", { viewport });
    const { page } = app;
    // On a phone the settings are folded into a line that says what they are.
    assert.equal(await page.locator("#settings").evaluate((d) => d.open), viewport.width > 860);
    assert.equal(await textOf(page.locator("#settings-summary")), "Claude Haiku 5.5 (default) · max 1,024 tokens · effort medium");
    await openSettings(page);
    const picker = page.locator("#model-field");
    // The default model is named once, not also as "Default (…)".
    assert.equal((await picker.innerText()).split("Claude Haiku 5.5").length - 1, 1, "the default model is listed once");
    const names = await page.getByRole("radio").evaluateAll((rs) => rs.map((r) => r.labels[0].querySelector(".model-name").textContent));
    assert.deepEqual(names, ["Claude Haiku 5.5 (default)", "promptq local model (not a real LLM)", "Claude Opus 5.5", "Claude Haiku 4.5"]);
    assert.equal(await page.getByRole("radio", { name: "Claude Haiku 5.5 (default)" }).isChecked(), true);
    // Every name is shown whole, inside the page.
    const cut = await page.locator("#model-field .model-name").evaluateAll((els) => els
      .filter((el) => el.scrollWidth > el.clientWidth || el.getBoundingClientRect().right > document.documentElement.clientWidth)
      .map((el) => el.textContent));
    assert.deepEqual(cut, [], `${viewport.width} px: names cut`);

    // What each costs per million tokens (here $0: the local stand-in
    // answers), writes at most, and until when it is served.
    const facts = async (name) => textOf(page.getByRole("radio", { name }).locator("xpath=..").locator(".hint"));
    assert.equal(await facts("Claude Haiku 5.5 (default)"),
      "$0 here: answered by the local stand-in (on Amazon Bedrock $0.10 in / $0.50 out per million tokens) · writes up to 128,000 tokens · end of life not before 7 Oct 2027 · no temperature");
    assert.match(await facts("Claude Opus 5.5"), /\$4\.00 in \/ \$20\.00 out per million tokens\) · writes up to 128,000 tokens · end of life not before 22 Sept? 2027 · no temperature$/);
    assert.equal(await facts("Claude Haiku 4.5"),
      "$0 here: answered by the local stand-in (on Amazon Bedrock $1.00 in / $5.00 out per million tokens) · writes up to 64,000 tokens");
    assert.equal(await facts("promptq local model (not a real LLM)"), "$0: the local stand-in, no model is called · writes up to 64,000 tokens");

    await t.shot(page, viewport.width < 600 ? "models-phone" : "models", { fullPage: true });

    // Limits with thousands separators, as elsewhere.
    assert.equal(await textOf(page.locator("#max-tokens-hint")), "1 to 128,000. Empty: the default, 1,024.");
    await page.getByRole("radio", { name: "Claude Haiku 4.5" }).check();
    assert.equal(await textOf(page.locator("#max-tokens-hint")), "1 to 64,000. Empty: the default, 1,024.");
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), "nothing scrolls sideways");
    t.noPageErrors(app);
  }
});

test("the settings follow the model: no temperature for the 5.5 models, an effort where taken, and the card says what ran", async () => {
  const app = await t.loggedIn("settings");
  const { page, rec } = app;
  const bodies = posted(page);
  const temperature = page.getByRole("spinbutton", { name: "Temperature" });
  const effort = page.getByLabel("Effort");

  // The default, Claude Haiku 5.5: an effort at medium by default, which
  // does not think; xhigh and max do, and thinking is billed as output.
  assert.equal(await temperature.isVisible(), false);
  assert.equal(await effort.isVisible(), true);
  assert.deepEqual(await effort.locator("option").allTextContents(), ["low", "medium (default)", "high", "xhigh (thinks)", "max (thinks)"]);
  assert.equal(await textOf(effort.locator("option:checked")), "medium (default)");
  assert.equal(await textOf(page.locator("#effort-hint")), "At xhigh and max the model thinks first: thinking is billed as output tokens and counts against max tokens.");

  // Opus 5.5 thinks at every level.
  await page.getByRole("radio", { name: "Claude Opus 5.5" }).check();
  assert.match(await textOf(page.locator("#effort-hint")), /^The model thinks first at every level/);
  // Haiku 4.5 takes a temperature and no effort.
  await page.getByRole("radio", { name: "Claude Haiku 4.5" }).check();
  assert.equal(await effort.isVisible(), false);
  assert.equal(await temperature.isVisible(), true);
  await temperature.fill("0.3");

  // Back to Haiku 5.5: the temperature typed for Haiku 4.5 is not sent
  // (the API would refuse it), the effort chosen is.
  await page.getByRole("radio", { name: "Claude Haiku 5.5 (default)" }).check();
  assert.equal(await temperature.isVisible(), false);
  await effort.selectOption("xhigh");
  await submitPrompt(page, "Think about this one.", { maxTokens: 20 });
  await waitForStatus(page, "Succeeded", 60_000);
  assert.deepEqual(bodies.at(-1), { prompt: "Think about this one.", max_tokens: 20, effort: "xhigh" });
  assert.equal(rec.api.find((r) => r.method === "POST" && r.path === "/generate").status, 202);
  assert.match(await textOf(page.locator(".job[data-current] .job-meta")), /^Claude Haiku 5\.5, answered by the local stand-in \(\$0\) · effort xhigh, thinking first \(billed as output\) · max 20 tokens · /);

  // Run again keeps the effort; Haiku 4.5 with its temperature runs too.
  await page.getByRole("button", { name: "Run again" }).click();
  await eventually(() => assert.equal(bodies.length, 2));
  assert.deepEqual(bodies[1], { prompt: "Think about this one.", model: HAIKU55, max_tokens: 20, effort: "xhigh" });
  await waitForStatus(page, "Succeeded", 60_000);
  await page.getByRole("radio", { name: "Claude Haiku 4.5" }).check();
  await submitPrompt(page, "A warmer one.", { maxTokens: 20 });
  await waitForStatus(page, "Succeeded", 60_000);
  assert.deepEqual(bodies.at(-1), { prompt: "A warmer one.", max_tokens: 20, temperature: 0.3, model: HAIKU45 });
  assert.match(await textOf(page.locator(".job[data-current] .job-meta")), /^Claude Haiku 4\.5, answered by the local stand-in \(\$0\) · max 20 tokens · temperature 0\.3 · /);
  t.noPageErrors(app);
});

test("under make dev a job for a Bedrock model says the local stand-in answered, and its tokens cost $0", async () => {
  const app = await t.loggedIn("standin");
  const { page } = app;
  const usage = page.getByRole("region", { name: "Your usage today" });
  // A long prompt: at Haiku 5.5's list price its 3,000 input tokens would
  // cost $0.0003, which the usage panel would show.
  const prompt = `Count these words. ${"word ".repeat(3000)}`;
  await submitPrompt(page, prompt, { maxTokens: 10 });
  await waitForStatus(page, "Succeeded", 60_000);
  assert.match(await textOf(page.locator(".job[data-current] .job-meta")), /^Claude Haiku 5\.5, answered by the local stand-in \(\$0\) · effort medium \(default\), no thinking · max 10 tokens · /);
  await eventually(async () => assert.match(await textOf(usage.locator("#usage-models")),
    /^By model — Claude Haiku 5\.5: 3,00\d in, 10 out \(\$0\.00\)\. The local stand-in answered for every model, at \$0\./));
  assert.equal(await textOf(usage.locator("#usage-cost")), "$0.00");
  t.noPageErrors(app);
});
