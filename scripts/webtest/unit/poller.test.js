// The job poller's timing, with a fake API and Node's mocked timers.
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { JobPoller, backoff, DEFAULT_DELAY_MS, MIN_DELAY_MS } from "../../../web/js/poller.js";
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
  assert.deepEqual(api.calls, [0, MIN_DELAY_MS, MIN_DELAY_MS + DEFAULT_DELAY_MS]);
});

test("backoff doubles up to 30 s, with jitter in the upper half", () => {
  assert.equal(backoff(1, () => 0), 500);
  assert.equal(backoff(1, () => 1), 1000);
  assert.equal(backoff(3, () => 1), 4000);
  assert.equal(backoff(10, () => 1), 30_000);
  assert.equal(backoff(10, () => 0), 15_000);
});
