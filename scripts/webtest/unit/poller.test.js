// The job poller's timing, with a fake API and Node's mocked timers.
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { JobPoller, backoff, pollDelay, AFTER_WRITE_MS, DEFAULT_DELAY_MS, IDLE_DELAYS_MS, MIN_DELAY_MS } from "../../../web/js/poller.js";
import { ApiError } from "../../../web/js/api.js";

// fakeApi answers getJob from a script of answers and records when it was asked.
function fakeApi(script, clock) {
  const calls = [];
  return {
    calls,
    async getJob(id) {
      calls.push(clock());
      const next = script.shift();
      if (!next) throw new Error("asked more often than scripted");
      if (next instanceof Error) throw next;
      return next;
    },
  };
}

const job = (status) => ({ job: { job_id: "j1", status, generated_text: "" }, retryAfter: status === "queued" ? 2 : status === "running" ? 1 : null });

// settle lets pending promise callbacks run between timer ticks.
const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

async function runFor(ms, step = 100) {
  await settle();
  for (let t = 0; t < ms; t += step) {
    mock.timers.tick(step);
    await settle();
  }
}

test("the poller waits as long as Retry-After says and stops at a terminal status", async (t) => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  t.after(() => mock.timers.reset());
  const api = fakeApi([job("queued"), job("running"), job("running"), job("succeeded")], Date.now);
  const seen = [];
  let stopped = 0;
  new JobPoller({ api, id: "j1", onJob: (j) => seen.push(j.status), onStop: () => stopped++, doc: null }).start();
  await runFor(10_000);
  assert.deepEqual(seen, ["queued", "running", "running", "succeeded"]);
  // First at once, then 2 s (queued), 1 s, 1 s; nothing after succeeded.
  assert.deepEqual(api.calls, [0, 2000, 3000, 4000]);
  assert.equal(stopped, 1);
});

test("a job that is already terminal is asked about once", async (t) => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  t.after(() => mock.timers.reset());
  const api = fakeApi([job("failed")], Date.now);
  new JobPoller({ api, id: "j1", onJob: () => {}, doc: null }).start();
  await runFor(10_000);
  assert.equal(api.calls.length, 1);
});

test("a cancelled job whose charge may still grow is asked about until it is final", async (t) => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  t.after(() => mock.timers.reset());
  const cancelled = (pending) => ({ job: { job_id: "j1", status: "cancelled", generated_text: "", charged: { tokens: pending ? 0 : 9, pending } }, retryAfter: pending ? 1 : null });
  const api = fakeApi([cancelled(true), cancelled(true), cancelled(false)], Date.now);
  const seen = [];
  new JobPoller({ api, id: "j1", onJob: (j) => seen.push(j.charged.tokens), doc: null }).start();
  await runFor(10_000);
  assert.deepEqual(seen, [0, 0, 9]);
  assert.deepEqual(api.calls, [0, 1000, 2000]);
});

test("network errors and 5xx back off, and Retry-After on a 429 is honoured", async (t) => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  t.after(() => mock.timers.reset());
  const realRandom = Math.random;
  Math.random = () => 1; // the top of each jitter range
  t.after(() => {
    Math.random = realRandom;
  });
  const api = fakeApi([
    new ApiError({ status: 0, code: "network", message: "down" }),
    new ApiError({ status: 503, code: "unavailable", message: "busy" }),
    new ApiError({ status: 429, code: "rate_limited", message: "slow down", retryAfter: 7 }),
    job("succeeded"),
  ], Date.now);
  const errors = [];
  new JobPoller({ api, id: "j1", onJob: () => {}, onError: (e, d) => errors.push([e.status, d]), doc: null }).start();
  await runFor(20_000);
  assert.deepEqual(errors, [[0, 1000], [503, 2000], [429, 7000]]);
  assert.deepEqual(api.calls, [0, 1000, 3000, 10000]);
});

test("a 404 stops the poller", async (t) => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  t.after(() => mock.timers.reset());
  const api = fakeApi([new ApiError({ status: 404, code: "not_found", message: "No such job" })], Date.now);
  const errors = [];
  const p = new JobPoller({ api, id: "j1", onJob: () => {}, onError: (e, d) => errors.push(d), doc: null }).start();
  await runFor(5000);
  assert.equal(api.calls.length, 1);
  assert.deepEqual(errors, [null]);
  assert.ok(p.stopped);
});

test("stop() ends polling at once", async (t) => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  t.after(() => mock.timers.reset());
  const api = fakeApi([job("running"), job("running")], Date.now);
  const p = new JobPoller({ api, id: "j1", onJob: () => {}, doc: null }).start();
  await runFor(300);
  p.stop();
  await runFor(5000);
  assert.equal(api.calls.length, 1);
});

test("a Retry-After of 0 or a missing one does not make the poller spin", async (t) => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  t.after(() => mock.timers.reset());
  const running = (ra) => ({ job: { job_id: "j1", status: "running" }, retryAfter: ra });
  const api = fakeApi([running(0), running(null), job("succeeded")], Date.now);
  new JobPoller({ api, id: "j1", onJob: () => {}, doc: null }).start();
  await runFor(5000);
  assert.deepEqual(api.calls, [0, IDLE_DELAYS_MS[0], IDLE_DELAYS_MS[0] + DEFAULT_DELAY_MS]);
});

// text is a running job's answer with Retry-After: 1, as the API sends it.
const text = (t) => ({ job: { job_id: "j1", status: "running", generated_text: t }, retryAfter: 1 });

test("the poller asks every second while words arrive, slower while nothing changes, and fast again when they do", async (t) => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  t.after(() => mock.timers.reset());
  const api = fakeApi([
    text("One"), text("One two"), text("One two three"), // words arrive: a second apart
    text("One two three"), text("One two three"), text("One two three"), text("One two three"), text("One two three"), // the model thinks
    text("One two three four"), text("One two three four five"), job("succeeded"),
  ], Date.now);
  new JobPoller({ api, id: "j1", onJob: () => {}, doc: null }).start();
  await runFor(30_000);
  assert.deepEqual(api.calls, [0, 1000, 2000, 3000, 4000, 6000, 9000, 12_000, 15_000, 16_000, 17_000]);
});

// due is a running job's answer whose worker writes more of it in ms, as
// the API says (text_due_in_ms).
const due = (t, ms) => ({ job: { job_id: "j1", status: "running", generated_text: t, text_due_in_ms: ms }, retryAfter: 1 });

test("the poller asks just after each write the API says is due, in step with the worker", async (t) => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  t.after(() => mock.timers.reset());
  const api = fakeApi([
    due("One", 900), due("One two", 1500), due("One two three", 1500), // in step: 200 ms after each write
    text("One two three"), // nothing new, no write due: the idle steps
    due("One two three four", 100), // a write due at once: never sooner than the floor
    job("succeeded"),
  ], Date.now);
  new JobPoller({ api, id: "j1", onJob: () => {}, doc: null }).start();
  await runFor(30_000);
  assert.deepEqual(api.calls, [0, 1100, 2800, 4500, 5500, 6000]);
  assert.equal(pollDelay(0, 1, 1300), 1300 + AFTER_WRITE_MS); // before Retry-After's second: the write is what counts
  assert.equal(pollDelay(5, 1, 0), MIN_DELAY_MS);
});

test("the wait is never less than Retry-After: a job put off behind others is asked about when it can move", () => {
  assert.equal(pollDelay(0, 1), 1000);
  assert.equal(pollDelay(0, 2), 2000); // queued
  assert.equal(pollDelay(0, 20), 20_000); // put off by its lane
  assert.equal(pollDelay(2, 1), 2000);
  assert.equal(pollDelay(99, 1), 3000); // a few seconds at most while nothing changes
  assert.equal(pollDelay(0, null), DEFAULT_DELAY_MS); // no Retry-After: 2 s
  assert.equal(pollDelay(99, null), 3000);
});

// fakeDocument is the page's visibility: hide() and show() as a browser
// switching tabs does.
class FakeDocument extends EventTarget {
  hidden = false;
  hide() {
    this.hidden = true;
    this.dispatchEvent(new Event("visibilitychange"));
  }
  show() {
    this.hidden = false;
    this.dispatchEvent(new Event("visibilitychange"));
  }
}

test("a hidden tab asks nothing, and asks at once when shown again", async (t) => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  t.after(() => mock.timers.reset());
  const doc = new FakeDocument();
  const api = fakeApi([text("One"), text("One"), text("One"), text("One two"), job("succeeded")], Date.now);
  new JobPoller({ api, id: "j1", onJob: () => {}, doc }).start();
  await runFor(1500); // asked at 0 and 1000
  doc.hide();
  await runFor(60_000);
  assert.deepEqual(api.calls, [0, 1000], "no request while the tab is hidden");
  doc.show(); // the person is back: at once, not at the end of a wait
  await runFor(0);
  assert.deepEqual(api.calls, [0, 1000, 61_500]);
  await runFor(10_000);
  // Nothing new at 61.5 s (two answers in a row without news): 2 s; then "two" came, and 1 s.
  assert.deepEqual(api.calls, [0, 1000, 61_500, 63_500, 64_500]);
});

test("a tab shown again in the middle of a wait asks at once", async (t) => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  t.after(() => mock.timers.reset());
  const doc = new FakeDocument();
  const api = fakeApi([job("queued"), job("running"), job("succeeded")], Date.now);
  new JobPoller({ api, id: "j1", onJob: () => {}, doc }).start();
  await runFor(500); // asked at 0; the next in 2 s (queued)
  doc.hide();
  await runFor(500);
  doc.show();
  await runFor(0);
  assert.deepEqual(api.calls, [0, 1000]);
});

test("backoff doubles up to 30 s, with jitter in the upper half", () => {
  assert.equal(backoff(1, () => 0), 500);
  assert.equal(backoff(1, () => 1), 1000);
  assert.equal(backoff(3, () => 1), 4000);
  assert.equal(backoff(10, () => 1), 30_000);
  assert.equal(backoff(10, () => 0), 15_000);
});
