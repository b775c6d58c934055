// How the page writes durations, dates, titles and counts.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatDuration, formatElapsed, formatWhen, titleOf, countChars, lowerFirst, formatUSD, billingText,
  formatDay, modelFacts, effortNote, thinkingOf, sentence, chargedText, waitText, inAbout,
} from "../../../web/js/format.js";
import { parseModels } from "../../../web/js/config.js";

test("durations and running clocks", () => {
  assert.equal(formatDuration(7), "7 ms");
  assert.equal(formatDuration(1300), "1.3 s");
  assert.equal(formatDuration(125_000), "2 min 5 s");
  assert.equal(formatDuration(null), "");
  assert.equal(formatElapsed(4999), "4 s");
  assert.equal(formatElapsed(65_000), "1 min 05 s");
});

test("a duration is rounded before it is split: no \"1 min 60 s\", no \"60.0 s\"", () => {
  assert.equal(formatDuration(119_800), "2 min 0 s");
  assert.equal(formatDuration(119_400), "1 min 59 s");
  assert.equal(formatDuration(59_960), "1 min 0 s");
  assert.equal(formatDuration(59_940), "59.9 s");
  assert.equal(formatDuration(999.6), "1.0 s");
  assert.equal(formatDuration(999.4), "999 ms");
  assert.equal(formatDuration(3_599_600), "1 h 0 min");
  assert.equal(formatDuration(5_430_000), "1 h 31 min");
});

test("a date carries its day as well as its time, and the year only when it is another", () => {
  const now = new Date("2026-12-10T12:00:00Z");
  assert.equal(formatWhen("2026-12-10T09:05:00Z", { now, locale: "en-GB" }).replace(/\u202f/g, " "), "10 Dec, 09:05".replace(/\u202f/g, " "));
  assert.match(formatWhen("2025-03-01T09:05:00Z", { now, locale: "en-GB" }), /2025/);
  assert.equal(formatWhen("not a date"), "");
});

test("a title is the prompt's first words, cut at a word", () => {
  assert.equal(titleOf("Write a haiku\nabout queues"), "Write a haiku about queues");
  assert.equal(titleOf("one two three four five six seven eight nine ten eleven twelve thirteen", 30), "one two three four five six…");
  assert.equal(titleOf(""), "(empty prompt)");
});

test("characters are counted as the API counts them: code points", () => {
  assert.equal(countChars("héllo"), 5);
  assert.equal(countChars("👍🏽"), 2);
  assert.equal(countChars("שלום"), 4);
});

test("a title ends a sentence once: no \"..\" and no \"….\"", () => {
  assert.equal(sentence("First job."), "First job.");
  assert.equal(sentence("Why?"), "Why?");
  assert.equal(sentence("Explain backoff to…"), "Explain backoff to…");
  assert.equal(sentence("Write a haiku"), "Write a haiku.");
});

test("helpers for sentences", () => {
  assert.equal(lowerFirst("An uppercase letter (A–Z)"), "an uppercase letter (A–Z)");
});

test("a title cut exactly at a word's end keeps that word", () => {
  assert.equal(titleOf("Explain exponential backoff with jitter to a new engineer on the team, with examples"), "Explain exponential backoff with jitter to a new engineer on…");
});

test("estimated costs in dollars", () => {
  assert.equal(formatUSD(0), "$0.00");
  assert.equal(formatUSD(0.013), "$0.013");
  assert.equal(formatUSD(0.00004), "under $0.0001");
  assert.equal(formatUSD(12.3456), "$12.35");
  assert.equal(formatUSD(1234.5), "$1,234.50");
  assert.equal(formatUSD(undefined), "–");
});

test("an economy job in a run says that cancelling it may still be billed", () => {
  const inRun = { status: "running", lane: "economy", economy: { state: "in_run", run_id: "r" } };
  assert.match(billingText(inRun), /cancelling it now may still be billed/);
  const pending = { status: "cancelled", lane: "economy", economy: { state: "in_run", run_id: "r", charge_pending: true } };
  assert.match(billingText(pending), /charged to your budget when the run ends/);
  assert.equal(billingText({ ...pending, economy: { state: "in_run", run_id: "r" } }), "");
  assert.equal(billingText({ status: "running", lane: "economy", economy: { state: "waiting" } }), "");
  assert.equal(billingText({ status: "running", lane: "bulk" }), "");
});

test("what choosing a model means: prices per million tokens, output limit, end of life, no temperature", () => {
  const [h5, h4, local] = parseModels([
    {
      id: "h5", name: "Claude Haiku 5.5", max_output_tokens: 128000, temperature: false, efforts: ["low", "medium", "high", "xhigh", "max"],
      default_effort: "medium", thinking_efforts: ["xhigh", "max"], input_price_per_mtok: 0.1, output_price_per_mtok: 0.5,
      long_context_above: 100000, long_context_factor: 5, end_of_life: "2027-10-07", end_of_life_at_earliest: true,
    },
    { id: "h4", name: "Claude Haiku 4.5", max_output_tokens: 64000, temperature: true, input_price_per_mtok: 1, output_price_per_mtok: 5 },
    { id: "promptq-local", name: "promptq local model", max_output_tokens: 64000, temperature: true, input_price_per_mtok: 0, output_price_per_mtok: 0, local: true },
  ]);
  assert.equal(modelFacts(h5, { locale: "en-GB" }),
    "$0.10 in / $0.50 out per million tokens (5× for a prompt over 100,000 tokens) · writes up to 128,000 tokens · end of life not before 7 Oct 2027 · no temperature");
  assert.equal(modelFacts(h4), "$1.00 in / $5.00 out per million tokens · writes up to 64,000 tokens");
  // Under make dev the local stand-in answers, at $0.
  assert.equal(modelFacts(h4, { standIn: true }),
    "$0 here: answered by the local stand-in (on Amazon Bedrock $1.00 in / $5.00 out per million tokens) · writes up to 64,000 tokens");
  assert.equal(modelFacts(local, { standIn: true }), "$0: the local stand-in, no model is called · writes up to 64,000 tokens");
  assert.equal(formatDay("2027-10-07", "en-GB"), "7 Oct 2027");
  assert.equal(formatDay("not a day"), "");
});

test("the effort note says which levels think, and that thinking is billed as output", () => {
  const [h5, opus, h4] = parseModels([
    { id: "h5", efforts: ["low", "medium", "high", "xhigh", "max"], default_effort: "medium", thinking_efforts: ["xhigh", "max"] },
    { id: "o5", efforts: ["low", "medium", "high", "xhigh", "max"], default_effort: "medium", thinking_efforts: ["low", "medium", "high", "xhigh", "max"] },
    { id: "h4" },
  ]);
  assert.equal(effortNote(h5), "At xhigh and max the model thinks first: thinking is billed as output tokens and counts against max tokens.");
  assert.equal(effortNote(opus), "The model thinks first at every level: thinking is billed as output tokens and counts against max tokens.");
  assert.equal(effortNote(h4), "");
  assert.deepEqual([thinkingOf(h5, ""), thinkingOf(h5, "high"), thinkingOf(h5, "max"), thinkingOf(opus, "low"), thinkingOf(h4, "")],
    ["off", "off", "adaptive", "adaptive", ""]);
});

test("chargedText says a job's tokens and cost, and so far while its charge may grow", () => {
  assert.equal(chargedText({ tokens: 3715, estimated_cost_usd: 0.0123 }), "3,715 tokens · $0.0123");
  assert.equal(chargedText({ tokens: 1, estimated_cost_usd: 0 }), "1 token · $0.00");
  assert.equal(chargedText({ tokens: 80, estimated_cost_usd: null }), "80 tokens");
  assert.equal(chargedText({ tokens: 0, estimated_cost_usd: 0, pending: true }), "0 tokens · $0.00 so far");
});

test("waitText says why a queued job waits and when it is looked at next", () => {
  const now = Date.parse("2026-12-07T10:00:00Z");
  const at = (s) => new Date(now + s * 1000).toISOString();
  const queued = (waiting) => ({ status: "queued", waiting });
  assert.equal(waitText(queued({ reason: "retry", until: at(8), attempt: 2, max_attempts: 5, error: "The stream broke off." }), now),
    "Retrying: try 2 of 5 failed: The stream broke off. The next try starts in about 8 s.");
  assert.match(waitText(queued({ reason: "fair_share", until: at(30) }), now), /^Waiting for capacity: .*fair share.* Next look in about 30 s\.$/);
  assert.match(waitText(queued({ reason: "busy", until: at(30) }), now), /^Waiting for capacity: every call the model allows at once is in use.* Next look in about 30 s\.$/);
  assert.match(waitText(queued({ reason: "pace", until: at(200) }), now), /^Waiting for capacity: .*pace.* Next look in about 3 min\.$/);
  assert.match(waitText(queued({ reason: "throttled", until: at(-1) }), now), /^Waiting for capacity: .*throttle, not a failed try.* Next try any moment now\.$/);
  assert.match(waitText(queued({ reason: "continuing", until: at(1) }), now), /answer so far is kept/);
  assert.match(waitText({ status: "queued", economy: { state: "waiting" } }, now), /^Waiting for the economy run/);
  assert.equal(waitText({ status: "running", economy: { state: "in_run", records_done: 1200, records_total: 5000 } }, now), "In an economy run: 1,200 of 5,000 prompts done.");
  // Running again, or no reason given: nothing to say.
  assert.equal(waitText({ status: "running", waiting: { reason: "retry", until: at(8) } }, now), "");
  assert.equal(waitText({ status: "queued" }, now), "");
  assert.equal(inAbout(now + 89_000, now), "in about 89 s");
});
