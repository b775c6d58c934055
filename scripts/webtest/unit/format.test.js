// How the page writes durations, dates, titles and counts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatDuration, formatElapsed, formatWhen, titleOf, countChars, lowerFirst, matches, formatUSD, billingText } from "../../../web/js/format.js";

test("durations and running clocks", () => {
  assert.equal(formatDuration(7), "7 ms");
  assert.equal(formatDuration(1300), "1.3 s");
  assert.equal(formatDuration(125_000), "2 min 5 s");
  assert.equal(formatDuration(null), "");
  assert.equal(formatElapsed(4999), "4 s");
  assert.equal(formatElapsed(65_000), "1 min 05 s");
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

test("helpers for sentences and search", () => {
  assert.equal(lowerFirst("An uppercase letter (A–Z)"), "an uppercase letter (A–Z)");
  assert.equal(matches("Write a Haiku about queues", "haiku QUEUE"), true);
  assert.equal(matches("Write a haiku", "haiku tables"), false);
  assert.equal(matches("anything", "  "), true);
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
