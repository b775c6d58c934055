// JobPoller watches one job: it asks GET /jobs/{id} at the pace of its
// text, and stops for good at a terminal status (once what the job was
// charged is final: charged.pending). While words arrive it asks just
// after the worker's next write of the text, which the API says is due in
// text_due_in_ms (the worker writes a watched job's text every 1.5 s), so
// each answer brings the words of the write just made; when an answer
// brings nothing new and no write is due (a model thinking before it
// writes, a job waiting its turn) it waits longer each time, up to a few
// seconds, and never less than the API's Retry-After (pollDelay). Errors
// back off (Retry-After if the answer had one, else exponentially with
// jitter). While the tab is hidden it does not ask at all, and it asks at
// once when the tab is shown again.

import { ApiError, TERMINAL } from "./api.js";

export const DEFAULT_DELAY_MS = 2000; // when a live job's answer has no Retry-After
export const MIN_DELAY_MS = 500; // never faster than this, whatever the header says
export const MAX_BACKOFF_MS = 30_000;
// IDLE_DELAYS_MS[n] is the wait after n answers in a row that brought
// nothing new (the last one for more): a second while the text grows, and
// after one answer without news (the worker's write may just have missed
// it), then 2 s, then 3 s. internal/measure/loadtest's pollEach, which
// make cost polls with, follows the same steps.
export const IDLE_DELAYS_MS = [1000, 1000, 2000, 3000];
// AFTER_WRITE_MS is how long after a write is due the poller asks: time
// for the worker's write to land.
export const AFTER_WRITE_MS = 200;

// pollDelay is the wait before the next GET /jobs/{id}: just after the
// next write of a running job's text when the API says one is due
// (dueInMs, its text_due_in_ms; null when it did not), else the step for
// idle answers without news, never less than Retry-After (seconds; null
// when the answer had none). The API says a write is due only for one at
// most a few seconds off, so the due write comes first.
export function pollDelay(idle, retryAfter, dueInMs = null) {
  if (dueInMs != null) return Math.max(dueInMs + AFTER_WRITE_MS, MIN_DELAY_MS);
  const step = IDLE_DELAYS_MS[Math.min(idle, IDLE_DELAYS_MS.length - 1)];
  const floor = retryAfter != null ? Math.max(retryAfter * 1000, MIN_DELAY_MS) : DEFAULT_DELAY_MS;
  return Math.max(step, floor);
}

// news is what a person would see change: the status and how much text.
const news = (job) => `${job.status}|${job.generated_text?.length ?? 0}`;

export class JobPoller {
  #stopped = false;
  #timer = null;
  #wake = null;
  #abort = null;
  #failures = 0;

  // firstDelayMs: how long to wait before the first request (a job just
  // submitted is known to be queued, so there is no hurry).
  constructor({ api, id, onJob, onError = () => {}, onStop = () => {}, firstDelayMs = 0, doc = globalThis.document }) {
    Object.assign(this, { api, id, onJob, onError, onStop, doc });
    this.firstDelayMs = firstDelayMs;
  }

  get stopped() {
    return this.#stopped;
  }

  start() {
    this.#loop();
    return this;
  }

  stop() {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort?.abort();
    this.#wake?.();
    this.onStop();
  }

  async #loop() {
    let delay = this.firstDelayMs;
    let idle = 0;
    let seen = null;
    while (!this.#stopped) {
      await this.#sleep(delay);
      await this.#visible();
      if (this.#stopped) return;
      this.#abort = new AbortController();
      try {
        const { job, retryAfter } = await this.api.getJob(this.id, { signal: this.#abort.signal });
        if (this.#stopped) return;
        this.#failures = 0;
        this.onJob(job, retryAfter);
        if (TERMINAL.has(job.status) && !job.charged?.pending) {
          this.stop();
          return;
        }
        const now = news(job);
        idle = now === seen ? idle + 1 : 0;
        seen = now;
        delay = pollDelay(idle, retryAfter, job.text_due_in_ms ?? null);
      } catch (err) {
        if (this.#stopped || err?.name === "AbortError") return;
        if (err instanceof ApiError && err.transient) {
          this.#failures++;
          delay = Math.max(backoff(this.#failures), (err.retryAfter ?? 0) * 1000);
          this.onError(err, delay);
          continue;
        }
        // Not found, refused, or the session ended: asking again won't help.
        this.onError(err, null);
        this.stop();
        return;
      }
    }
  }

  // #sleep waits ms, or less if the tab is shown again meanwhile (a person
  // back on the page sees the job as it is at once).
  #sleep(ms) {
    if (ms <= 0) return Promise.resolve();
    const doc = this.doc;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(this.#timer);
        doc?.removeEventListener("visibilitychange", shown);
        resolve();
      };
      const shown = () => {
        if (!doc.hidden) done();
      };
      this.#wake = done;
      this.#timer = setTimeout(done, ms);
      doc?.addEventListener("visibilitychange", shown);
    });
  }

  #visible() {
    const doc = this.doc;
    if (!doc || !doc.hidden) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (doc.hidden && !this.#stopped) return;
        doc.removeEventListener("visibilitychange", done);
        resolve();
      };
      this.#wake = done;
      doc.addEventListener("visibilitychange", done);
    });
  }
}

// backoff is the wait after n consecutive failures: 1 s, 2 s, 4 s… up to
// 30 s, each between half and all of that (jitter, so many pages that
// lost the API at once don't come back in step).
export function backoff(n, random = Math.random) {
  const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (n - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}
