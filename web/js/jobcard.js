// A job's card: its status and running clock, the answer as it grows
// (Markdown, or the plain text), what it cost and how it ended, and its
// tools. The workspace keeps a stack of them (web/js/app.js), one per job
// opened in this tab, each with its own poller, so jobs sent one after
// another all stay in view while they run. The card is built from the
// page's <template id="job-card"> (no markup from strings: the page's
// Trusted Types allow none).

import { modelName, modelFor } from "./config.js";
import { ApiError, TERMINAL } from "./api.js";
import { SessionEndedError } from "./session.js";
import { JobPoller } from "./poller.js";
import { markdownTree, renderTree } from "./markdown.js";
import { formatDuration, formatElapsed, formatWhen, titleOf, formatNumber, billingText, chargedText, waitText } from "./format.js";

const FAILURE_LEADS = {
  model_error: "The model could not answer this prompt.",
  retries_exhausted: "promptq tried several times and gave up.",
  enqueue_failed: "The job could not be queued.",
  purged: "The job was removed from the queue before it ran.",
};

export function failureText(job) {
  const e = job.error || {};
  const lead = FAILURE_LEADS[e.code] || "The job failed.";
  return e.message && e.message !== lead ? `${lead} ${e.message}` : lead;
}

const STOP_REASONS = {
  end_turn: "the answer was complete",
  max_tokens: "it reached the max tokens limit",
  stop_sequence: "at a stop sequence",
  content_filtered: "the content was filtered",
  guardrail_intervened: "a guardrail intervened",
};

function cap(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

// waitedMs is how long a finished job took as its owner saw it: from
// submission to its end (the API's duration_ms counts only the last
// attempt's generation).
export function waitedMs(job) {
  const start = Date.parse(job.created_at);
  const end = Date.parse(job.finished_at || (TERMINAL.has(job.status) ? job.updated_at : ""));
  if (Number.isFinite(start) && Number.isFinite(end) && end >= start) return end - start;
  return job.duration_ms ?? null;
}

// continuable says whether a job's answer can be continued by a new job
// (POST /generate's continue): it stopped at max_tokens.
export function continuable(job) {
  return job.status === "succeeded" && job.stop_reason === "max_tokens";
}

// JobCard is one job's card. host is the workspace: config, api, announce
// (the page's live region), sent(id) (the request this tab sent for a
// job, if any), skew() (the browser's clock minus the API's), onJob(card,
// job, before) (a new state of the job; before, the one it replaces),
// onAction(card, name) (a tool was used: again, continue, reuse, close).
export class JobCard {
  #elapsedTimer = null;

  constructor(host, id, job = null) {
    this.host = host;
    this.id = id;
    this.job = job;
    this.poller = null;
    this.plain = false;
    this.cancelFocused = false;
    this.el = document.getElementById("job-card").content.firstElementChild.cloneNode(true);
    this.el.dataset.jobId = id;
    const title = this.part("job-title");
    title.id = `job-title-${id}`;
    this.el.setAttribute("aria-labelledby", title.id);
    this.#wire();
    this.render(job || { job_id: id, status: "", generated_text: "" });
  }

  // part is the card's element of class name.
  part(name) {
    return this.el.querySelector(`.${name}`);
  }

  get live() {
    return !this.job || !TERMINAL.has(this.job.status);
  }

  #wire() {
    this.part("job-cancel").addEventListener("click", () => this.cancel());
    for (const [name, action] of [["job-again", "again"], ["job-continue", "continue"], ["job-reuse", "reuse"], ["job-close", "close"]]) {
      this.part(name).addEventListener("click", () => this.host.onAction(this, action));
    }
    this.part("job-copy").addEventListener("click", () => copy(this.host, this.job?.generated_text || "", this.part("job-copy"), "Copy text", "The text is copied to the clipboard."));
    this.part("view-plain").addEventListener("click", () => {
      this.plain = !this.plain;
      if (this.job) this.render(this.job);
    });
    // Each code block's copy button.
    this.part("job-rendered").addEventListener("click", (e) => {
      const b = e.target.closest("button[data-copy=code]");
      if (!b) return;
      const code = b.closest(".codeblock")?.querySelector("code")?.textContent || "";
      copy(this.host, code, b, "Copy code", "The code is copied to the clipboard.");
    });
  }

  // poll watches the job until it ends, firstDelayMs from now.
  poll(firstDelayMs = 0) {
    this.poller?.stop();
    const poller = new JobPoller({
      api: this.host.api,
      id: this.id,
      firstDelayMs,
      onJob: (job) => {
        if (this.poller !== poller) return;
        this.part("job-warning").hidden = true;
        const before = this.job;
        this.job = job;
        this.render(job);
        this.host.onJob(this, job, before);
      },
      onError: (err, retryInMs) => {
        if (this.poller !== poller || err instanceof SessionEndedError) return;
        const w = this.part("job-warning");
        w.textContent = retryInMs != null
          ? `${err.message.replace(/ ?(The page will keep trying|Try again in [^.]*)\.?$/, "")} Checking again in ${Math.max(1, Math.round(retryInMs / 1000))} s.`
          : err.message;
        w.hidden = false;
        if (err instanceof ApiError && err.status === 404) {
          this.renderMissing(err.message);
          this.host.announce(err.message);
        }
      },
    });
    this.poller = poller;
    poller.start();
  }

  // stop stops polling (the session ended, or the card goes).
  stop() {
    this.poller?.stop();
    this.poller = null;
  }

  remove() {
    this.stop();
    this.#stopElapsed();
    this.el.remove();
  }

  focusTitle() {
    this.part("job-title").focus({ preventScroll: true });
  }

  async cancel() {
    // Disabling the button may take focus from it: remember it had it.
    this.cancelFocused = document.activeElement === this.part("job-cancel");
    this.part("job-cancel").disabled = true;
    try {
      const job = await this.host.api.cancel(this.id);
      this.stop();
      const before = this.job;
      this.job = job;
      this.render(job);
      this.host.onJob(this, job, before);
      // Its worker charges the call it stops: watch until that lands.
      if (job.charged?.pending) this.poll(1000);
    } catch (err) {
      if (err instanceof SessionEndedError || !this.el.isConnected) return;
      this.part("job-warning").textContent = err.message;
      this.part("job-warning").hidden = false;
      this.part("job-cancel").disabled = false;
      if (this.cancelFocused && !this.part("job-cancel").hidden) {
        this.cancelFocused = false;
        this.part("job-cancel").focus();
      }
      if (err instanceof ApiError && err.status === 409) this.poll(0); // it ended meanwhile: show how
    }
  }

  // answeredBy is the model that wrote the answer as the card says it:
  // under make dev, the local stand-in for every model but its own.
  #answeredBy(job) {
    const { config } = this.host;
    const name = modelName(config, job.model);
    return config.standIn && !modelFor(config, job.model).local ? `${name}, answered by the local stand-in ($0)` : name;
  }

  render(job) {
    const p = (name) => this.part(name);
    const status = job.status || "";
    const badge = p("job-status");
    badge.textContent = status ? cap(status) : "Loading…";
    badge.dataset.status = status || "loading";
    this.el.dataset.status = status || "loading";

    const title = job.prompt ? titleOf(job.prompt) : `Job …${job.job_id.slice(-8)}`;
    if (p("job-title").textContent !== title) p("job-title").textContent = title;
    p("job-title").title = job.job_id;
    p("job-close").setAttribute("aria-label", `Close ${title}`);

    const mine = this.host.sent(job.job_id);
    const meta = [];
    if (job.model) meta.push(this.#answeredBy(job));
    if (job.lane === "bulk" || job.lane === "economy") meta.push(job.lane);
    if (job.effort) meta.push(effortText(job, mine));
    if (job.max_tokens) meta.push(`max ${formatNumber(job.max_tokens)} tokens${mine && mine.max_tokens == null ? " (default)" : ""}`);
    if (job.temperature != null) meta.push(`temperature ${job.temperature}`);
    if (job.created_at) meta.push(`submitted ${formatWhen(job.created_at)}`);
    if (job.continues) meta.push(`continues job …${job.continues.slice(-8)}`);
    meta.push(`job …${job.job_id.slice(-8)}`);
    p("job-meta").textContent = meta.join(" · ");

    this.#renderWait(job);

    p("job-prompt").textContent = job.prompt || "";
    p("job-prompt-box").hidden = !job.prompt;

    const live = status === "queued" || status === "running";
    const text = job.generated_text || "";
    // A job that ended with no text has no text box (a failed one says
    // why below), nor has one not read yet; a live one shows where its
    // text will appear.
    p("job-output").hidden = !text && (TERMINAL.has(status) || !status);
    const out = p("job-text");
    out.setAttribute("aria-busy", live ? "true" : "false");
    out.dataset.live = String(live);
    out.dataset.empty = String(!text);
    out.dataset.placeholder = status === "queued" ? (job.waiting ? "Waiting…" : "Waiting for a worker…") : status === "running" ? "Writing…" : "";
    p("job-plain").hidden = !this.plain;
    p("job-rendered").hidden = this.plain;
    p("view-plain").setAttribute("aria-pressed", String(this.plain));
    p("view-plain").textContent = this.plain ? "Show formatted" : "Show plain text";
    if (p("job-plain").textContent !== text) {
      p("job-plain").textContent = text;
      p("job-rendered").replaceChildren(renderTree(markdownTree(text)));
    }

    p("job-failure").hidden = status !== "failed";
    if (status === "failed") p("job-failure").textContent = failureText(job);

    const billing = billingText(job);
    p("job-billing").hidden = !billing;
    p("job-billing").textContent = billing;

    const done = TERMINAL.has(status);
    p("job-stats").hidden = !done;
    if (done) {
      const t = job.tokens || {};
      // A job cancelled while it ran stops before the model reports its
      // counts to it; what its call was charged says them.
      const counted = !(status === "cancelled" && !t.input && !t.output);
      const ch = job.charged;
      const count = (n, charged) => (counted ? formatNumber(n ?? 0) : ch && !ch.pending ? formatNumber(charged) : "not counted yet");
      p("stat-input").textContent = count(t.input, ch?.input);
      p("stat-output").textContent = count(t.output, ch?.output);
      p("stat-charged-box").hidden = !ch;
      p("stat-charged").textContent = ch ? chargedText(ch) : "";
      p("stat-charged").title = "As your daily budget and usage count it, at the model's list prices";
      p("stat-duration").textContent = formatDuration(waitedMs(job)) || "—";
      p("stat-duration").title = job.duration_ms != null ? `from submission to the end; generating took ${formatDuration(job.duration_ms)}` : "from submission to the end";
      const stop = status === "cancelled" ? "Cancelled" : STOP_REASONS[job.stop_reason] ? cap(STOP_REASONS[job.stop_reason]) : job.stop_reason || "";
      p("stat-stop-box").hidden = !stop;
      p("stat-stop").textContent = stop;
    }

    if (live) this.#startElapsed(job);
    else this.#stopElapsed();

    // Cancel goes when the job ends: focus on it moves on to what comes
    // next (Continue or Run again), never to the page's body.
    const cancelFocused = this.cancelFocused || document.activeElement === p("job-cancel");
    p("job-cancel").hidden = !live;
    p("job-cancel").disabled = false;
    // A job not read yet, or not found, has no text and no tools.
    p("job-copy").hidden = !text;
    p("job-continue").hidden = !continuable(job);
    p("job-again").hidden = !done || !job.prompt;
    p("job-again").textContent = status === "failed" ? "Try again" : "Run again";
    p("job-reuse").hidden = !job.prompt;
    if (cancelFocused && !live) {
      this.cancelFocused = false;
      const next = [p("job-continue"), p("job-again")].find((b) => !b.hidden);
      (next || p("job-title")).focus();
    }
  }

  // renderMissing shows a job link that leads nowhere: the API's words,
  // and nothing of a job (no answer box, no tools).
  renderMissing(message) {
    this.render({ job_id: this.id, status: "", generated_text: "" });
    this.el.dataset.status = "missing";
    this.part("job-status").textContent = "Not found";
    this.part("job-status").dataset.status = "missing";
    this.part("job-warning").textContent = message;
    this.part("job-warning").hidden = false;
  }

  // renderWait says why a queued job waits and what comes next (a
  // retry, capacity, the economy run), counting down to its next look.
  #renderWait(job) {
    const text = waitText(job, Date.now() - this.host.skew());
    const el = this.part("job-wait");
    if (el.textContent !== text) el.textContent = text;
    el.hidden = !text;
  }

  // The running clock beside a live job's status, from its submission
  // (and the countdown of a job waiting, with it).
  #startElapsed(job) {
    const start = Date.parse(job.created_at);
    if (!Number.isFinite(start)) return;
    const el = this.part("job-elapsed");
    const tick = () => {
      el.textContent = formatElapsed(Date.now() - this.host.skew() - start);
      if (this.job) this.#renderWait(this.job);
    };
    tick();
    el.hidden = false;
    clearInterval(this.#elapsedTimer);
    this.#elapsedTimer = setInterval(tick, 1000);
  }

  #stopElapsed() {
    clearInterval(this.#elapsedTimer);
    this.#elapsedTimer = null;
    this.part("job-elapsed").hidden = true;
  }
}

// effortText is the effort a job ran at, and whether its model thought
// first (thinking is billed as output).
function effortText(job, mine) {
  if (!job.effort) return "";
  const chosen = mine && mine.effort == null ? " (default)" : "";
  const thinking = job.thinking === "adaptive" ? ", thinking first (billed as output)" : job.thinking === "off" ? ", no thinking" : "";
  return `effort ${job.effort}${chosen}${thinking}`;
}

// copy puts text on the clipboard and says so on the button for a moment.
export async function copy(host, text, button, label, said) {
  if (!text) return;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Older browsers, or clipboard permission refused: select and copy.
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "offscreen";
    document.body.append(ta);
    ta.select();
    const ok = document.execCommand?.("copy");
    ta.remove();
    if (!ok) {
      host.announce("Could not copy. Select the text and copy it by hand.");
      return;
    }
  }
  button.textContent = "Copied";
  host.announce(said);
  setTimeout(() => {
    button.textContent = label;
  }, 2000);
}
