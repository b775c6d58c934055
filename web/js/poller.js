// JobPoller watches one job: it asks GET /jobs/{id}, waits as long as the
// API's Retry-After says, and stops for good at a terminal status. Errors
// back off (Retry-After if the answer had one, else exponentially with
// jitter); while the tab is hidden it does not ask at all.

import { ApiError, TERMINAL } from "./api.js";

export const DEFAULT_DELAY_MS = 2000; // when a live job's answer has no Retry-After
export const MIN_DELAY_MS = 500; // never faster than this, whatever the header says
export const MAX_BACKOFF_MS = 30_000;

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
        if (TERMINAL.has(job.status)) {
          this.stop();
          return;
        }
        delay = retryAfter != null ? Math.max(retryAfter * 1000, MIN_DELAY_MS) : DEFAULT_DELAY_MS;
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

  #sleep(ms) {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
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
