// promptq's web app: wires the forms and views to Cognito and the API.
// State lives in this module: the session (tokens in memory only), the
// open job and its poller, and the history list.

import { loadConfig, passwordRules } from "./config.js";
import { Cognito, CognitoError } from "./cognito.js";
import { Session, SessionEndedError } from "./session.js";
import { Api, ApiError, TERMINAL } from "./api.js";
import { JobPoller, backoff } from "./poller.js";

const $ = (id) => document.getElementById(id);

const DRAFT_KEY = "promptq.draft"; // sessionStorage: the prompt being typed, never tokens
const FIRST_POLL_AFTER_SUBMIT_MS = 1000;
const HISTORY_PAGE = 20;
const HISTORY_ATTEMPTS = 3;

let config;
let cognito;
let session;
let api;

// The open job: its id, last known state and the poller watching it.
const view = { id: null, job: null, poller: null };
// History: the jobs listed so far and the cursor of the next page.
const hist = { jobs: [], cursor: "", loading: false };
// A submission that failed transiently keeps its key, so sending the same
// body again cannot create a second job.
let pending = null; // {key, body}
// The sign-up password, kept in memory only until the account is
// confirmed, to log in straight after.
let signupSecret = null;
// Who was signed in when the session ended: if the same person logs back
// in, the page carries on where it was.
let endedUser = null;

// ---- boot -----------------------------------------------------------------

async function boot() {
  try {
    config = await loadConfig();
  } catch (err) {
    $("boot").hidden = true;
    $("config-error").textContent = err.message;
    $("config-error").hidden = false;
    return;
  }
  cognito = new Cognito({ endpoint: config.cognitoEndpoint, clientId: config.clientId });
  session = new Session(cognito);
  api = new Api({ baseUrl: config.apiUrl, session });
  session.addEventListener("ended", onSessionEnded);

  renderRules();
  setUpModels();
  restoreDraft();
  wireAuth();
  wireWorkspace();

  $("boot").hidden = true;
  // No focus move at load: keyboard and screen-reader users start at the
  // top (the skip link), as on any page.
  showAuth("login", { focus: false });
  document.body.dataset.ready = "true";
}

// ---- small helpers ----------------------------------------------------------

function announce(text) {
  const el = $("announcer");
  // Clearing first makes screen readers repeat an identical message.
  el.textContent = "";
  setTimeout(() => {
    el.textContent = text;
  }, 50);
}

function setError(id, text) {
  $(id).textContent = text || "";
}

function busy(form, on) {
  for (const b of form.querySelectorAll("button")) b.disabled = on;
  form.setAttribute("aria-busy", on ? "true" : "false");
}

function markInvalid(input, on) {
  if (on) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function cap(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

function formatDuration(ms) {
  if (ms == null) return "";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

function formatWhen(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function normEmail(v) {
  return v.trim();
}

function validEmail(v) {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v);
}

// ---- account ----------------------------------------------------------------

const WRONG_LOGIN = ["NotAuthorizedException", "UserNotFoundException", "InvalidPasswordException"];

const AUTH_FORMS = { login: "login-form", signup: "signup-form", confirm: "confirm-form" };

function showAuth(which, { notice = "", focus = true } = {}) {
  $("workspace").hidden = true;
  $("whoami").hidden = true;
  $("auth").hidden = false;
  for (const [name, id] of Object.entries(AUTH_FORMS)) $(id).hidden = name !== which;
  $("auth-notice").textContent = notice;
  $("auth-notice").hidden = !notice;
  document.body.dataset.view = which;
  if (focus) {
    const form = $(AUTH_FORMS[which]);
    const empty = [...form.querySelectorAll("input:not([type=checkbox])")].find((i) => !i.value);
    (empty || form.querySelector("h2")).focus();
  }
}

function renderRules() {
  const list = $("password-rules");
  list.replaceChildren();
  for (const r of passwordRules(config.passwordPolicy)) {
    const li = document.createElement("li");
    li.dataset.rule = r.id;
    li.dataset.met = "false";
    const mark = document.createElement("span");
    mark.className = "mark";
    mark.setAttribute("aria-hidden", "true");
    const text = document.createElement("span");
    text.textContent = r.text;
    const state = document.createElement("span");
    state.className = "visually-hidden state";
    state.textContent = " (not yet)";
    li.append(mark, text, state);
    list.append(li);
  }
}

function checkRules(password) {
  const failing = [];
  for (const r of passwordRules(config.passwordPolicy)) {
    const li = $("password-rules").querySelector(`[data-rule="${r.id}"]`);
    const ok = r.test(password);
    li.dataset.met = String(ok);
    li.querySelector(".state").textContent = ok ? " (done)" : " (not yet)";
    if (!ok) failing.push(r.text.toLowerCase());
  }
  return failing;
}

function wireAuth() {
  for (const b of document.querySelectorAll("[data-show]")) {
    b.addEventListener("click", () => {
      const to = b.dataset.show;
      // Carry the email between the forms.
      const email = [$("login-email"), $("signup-email"), $("confirm-email")].map((i) => i.value).find(Boolean) || "";
      for (const i of [$("login-email"), $("signup-email"), $("confirm-email")]) if (!i.value) i.value = email;
      showAuth(to);
    });
  }

  $("signup-password").addEventListener("input", (e) => checkRules(e.target.value));
  $("signup-show").addEventListener("change", (e) => {
    $("signup-password").type = e.target.checked ? "text" : "password";
  });

  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const email = normEmail($("login-email").value);
    const password = $("login-password").value;
    setError("login-error", "");
    markInvalid($("login-email"), false);
    markInvalid($("login-password"), false);
    if (!validEmail(email)) {
      markInvalid($("login-email"), true);
      setError("login-error", "Enter your email address.");
      $("login-email").focus();
      return;
    }
    if (!password) {
      markInvalid($("login-password"), true);
      setError("login-error", "Enter your password.");
      $("login-password").focus();
      return;
    }
    busy(form, true);
    try {
      await logIn(email, password);
    } catch (err) {
      if (err instanceof CognitoError && err.name === "UserNotConfirmedException") {
        $("confirm-email").value = email;
        signupSecret = { email, password };
        showAuth("confirm", { notice: err.message });
        return;
      }
      // At log-in these all mean the same to a person (cognito-local
      // answers a wrong password with InvalidPasswordException).
      const wrong = err instanceof CognitoError && WRONG_LOGIN.includes(err.name);
      setError("login-error", wrong ? "The email or password is not right." : err.message);
      if (wrong) {
        markInvalid($("login-password"), true);
        $("login-password").select();
        $("login-password").focus();
      }
    } finally {
      busy(form, false);
    }
  });

  $("signup-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const email = normEmail($("signup-email").value);
    const password = $("signup-password").value;
    setError("signup-error", "");
    markInvalid($("signup-email"), false);
    markInvalid($("signup-password"), false);
    if (!validEmail(email)) {
      markInvalid($("signup-email"), true);
      setError("signup-error", "Enter a valid email address, such as name@example.com.");
      $("signup-email").focus();
      return;
    }
    const failing = checkRules(password);
    if (failing.length) {
      markInvalid($("signup-password"), true);
      setError("signup-error", `The password still needs: ${failing.join("; ")}.`);
      $("signup-password").focus();
      return;
    }
    busy(form, true);
    try {
      const out = await cognito.signUp(email, password);
      signupSecret = { email, password };
      $("confirm-email").value = email;
      $("confirm-code").value = "";
      const where = out.CodeDeliveryDetails?.Destination || email;
      $("confirm-intro").textContent = `We emailed a code to ${where}. Enter it here to finish creating your account.`;
      showAuth("confirm");
      announce(`Account created. We emailed a code to ${where}.`);
    } catch (err) {
      let msg = err.message;
      if (err.name === "InvalidPasswordException" && err.detail) msg = `${msg} ${err.detail}`;
      setError("signup-error", msg);
      if (err.name === "UsernameExistsException") markInvalid($("signup-email"), true);
      if (err.name === "InvalidPasswordException") markInvalid($("signup-password"), true);
    } finally {
      busy(form, false);
    }
  });

  $("confirm-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const email = normEmail($("confirm-email").value);
    const code = $("confirm-code").value.trim();
    setError("confirm-error", "");
    markInvalid($("confirm-code"), false);
    if (!validEmail(email)) {
      setError("confirm-error", "Enter the email address you signed up with.");
      $("confirm-email").focus();
      return;
    }
    if (!code) {
      markInvalid($("confirm-code"), true);
      setError("confirm-error", "Enter the code from the email.");
      $("confirm-code").focus();
      return;
    }
    busy(form, true);
    try {
      await cognito.confirmSignUp(email, code);
    } catch (err) {
      busy(form, false);
      setError("confirm-error", err.message);
      if (err.name === "CodeMismatchException" || err.name === "ExpiredCodeException") {
        markInvalid($("confirm-code"), true);
        $("confirm-code").select();
        $("confirm-code").focus();
      }
      return;
    }
    $("login-email").value = email;
    const secret = signupSecret && signupSecret.email === email ? signupSecret : null;
    signupSecret = null;
    if (secret) {
      try {
        announce("Your account is confirmed. Logging you in.");
        await logIn(email, secret.password);
        busy(form, false);
        return;
      } catch {
        // Fall through to the log-in form.
      }
    }
    busy(form, false);
    showAuth("login", { notice: "Your account is confirmed. Log in to start." });
  });

  $("resend").addEventListener("click", async () => {
    const email = normEmail($("confirm-email").value);
    setError("confirm-error", "");
    if (!validEmail(email)) {
      setError("confirm-error", "Enter the email address you signed up with, then ask for a new code.");
      $("confirm-email").focus();
      return;
    }
    $("resend").disabled = true;
    try {
      const out = await cognito.resendCode(email);
      const where = out.CodeDeliveryDetails?.Destination || email;
      $("confirm-intro").textContent = `We sent a new code to ${where}. Enter it here to finish creating your account.`;
      announce(`We sent a new code to ${where}.`);
      $("confirm-code").value = "";
      $("confirm-code").focus();
    } catch (err) {
      setError("confirm-error", `Could not send a new code. ${err.message}`);
    } finally {
      // A short pause stops accidental double sends.
      setTimeout(() => {
        $("resend").disabled = false;
      }, 3000);
    }
  });

  $("logout").addEventListener("click", async () => {
    closeJob();
    clearHistory();
    pending = null;
    endedUser = null;
    saveDraft(true);
    $("prompt").value = "";
    await session.logOut();
    $("login-password").value = "";
    showAuth("login", { notice: "You have logged out." });
    announce("You have logged out.");
  });
}

async function logIn(email, password) {
  const user = await session.logIn(email, password);
  $("login-password").value = "";
  $("signup-password").value = "";
  checkRules("");
  const same = endedUser && endedUser.sub === user.sub;
  if (!same) {
    closeJob();
    clearHistory();
    pending = null;
  }
  endedUser = null;
  showWorkspace();
  announce(`Logged in as ${user.email}.`);
  loadHistory();
  if (same && view.id) {
    // Carry on watching the job that was open.
    if (!view.job || !TERMINAL.has(view.job.status)) startPolling(view.id, 0);
  } else {
    routeFromHash();
  }
}

function onSessionEnded() {
  endedUser = session.user;
  view.poller?.stop();
  view.poller = null;
  saveDraft();
  $("login-email").value = session.user?.email || $("login-email").value;
  $("login-password").value = "";
  showAuth("login", {
    notice: "Your session has ended. Log in again to carry on; the prompt you typed is kept.",
  });
  announce("Your session has ended. Log in again to carry on.");
}

// ---- workspace -----------------------------------------------------------------

function showWorkspace() {
  $("auth").hidden = true;
  $("workspace").hidden = false;
  $("whoami").hidden = false;
  $("user-email").textContent = session.user?.email || "";
  document.body.dataset.view = "workspace";
  $("prompt").focus();
}

function setUpModels() {
  if (!config.models.length) return;
  const select = $("model");
  for (const m of config.models) {
    const o = document.createElement("option");
    o.value = m;
    o.textContent = m;
    select.append(o);
  }
  $("model-field").hidden = false;
}

function readDraft() {
  return {
    prompt: $("prompt").value,
    model: $("model").value,
    max_tokens: $("max-tokens").value,
    temperature: $("temperature").value,
  };
}

function saveDraft(clear = false) {
  try {
    const d = readDraft();
    if (clear || (!d.prompt && !d.temperature && d.max_tokens === "1024" && !d.model)) sessionStorage.removeItem(DRAFT_KEY);
    else sessionStorage.setItem(DRAFT_KEY, JSON.stringify(d));
  } catch {
    // Storage may be off (private mode); the draft is a nicety.
  }
}

function restoreDraft() {
  let d;
  try {
    d = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null");
  } catch {
    d = null;
  }
  if (!d) return;
  $("prompt").value = d.prompt || "";
  if (d.model && config.models.includes(d.model)) $("model").value = d.model;
  if (d.max_tokens) $("max-tokens").value = d.max_tokens;
  if (d.temperature != null) $("temperature").value = d.temperature;
}

// buildRequest checks the form and returns the request body, or null
// after marking what is wrong.
function buildRequest() {
  const fields = [$("prompt"), $("max-tokens"), $("temperature"), $("model")];
  fields.forEach((f) => markInvalid(f, false));
  const fail = (input, text) => {
    markInvalid(input, true);
    setError("prompt-error", text);
    input.focus();
    return null;
  };
  const prompt = $("prompt").value;
  if (!prompt.trim()) return fail($("prompt"), "Write a prompt first.");
  const body = { prompt };
  const mt = $("max-tokens").value.trim();
  if (mt !== "") {
    const n = Number(mt);
    if (!Number.isInteger(n) || n < 1 || n > 8192) return fail($("max-tokens"), "Max tokens must be a whole number from 1 to 8192.");
    body.max_tokens = n;
  }
  const t = $("temperature").value.trim();
  if (t !== "") {
    const x = Number(t);
    if (!Number.isFinite(x) || x < 0 || x > 1) return fail($("temperature"), "Temperature must be a number from 0 to 1, or empty for the model's default.");
    body.temperature = x;
  }
  if ($("model").value) body.model = $("model").value;
  return body;
}

const FIELD_INPUTS = { prompt: "prompt", max_tokens: "max-tokens", temperature: "temperature", model: "model" };

async function submitPrompt() {
  setError("prompt-error", "");
  const body = buildRequest();
  if (!body) return;
  const form = $("prompt-form");
  const same = pending && JSON.stringify(pending.body) === JSON.stringify(body);
  const key = same ? pending.key : crypto.randomUUID();
  pending = { key, body };
  busy(form, true);
  $("submit").textContent = "Submitting…";
  try {
    const accepted = await api.generate(body, key);
    pending = null;
    $("prompt").value = "";
    saveDraft(true);
    window.history.pushState(null, "", `#job/${accepted.job_id}`);
    openJob(accepted.job_id, {
      job: {
        job_id: accepted.job_id,
        status: accepted.status,
        prompt: body.prompt,
        model: body.model || "",
        max_tokens: body.max_tokens,
        generated_text: "",
        created_at: accepted.created_at,
      },
      firstDelayMs: FIRST_POLL_AFTER_SUBMIT_MS,
      focus: true,
    });
    announce(`Job submitted. It is ${accepted.status}.`);
  } catch (err) {
    if (err instanceof SessionEndedError) return; // the log-in form says so; the prompt stays
    setError("prompt-error", err.message);
    const input = err instanceof ApiError && FIELD_INPUTS[err.field] && $(FIELD_INPUTS[err.field]);
    if (input) markInvalid(input, true);
    if (!(err instanceof ApiError && err.transient)) pending = null;
  } finally {
    busy(form, false);
    $("submit").textContent = "Generate";
  }
}

function wireWorkspace() {
  $("prompt-form").addEventListener("submit", (e) => {
    e.preventDefault();
    submitPrompt();
  });
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      if (!$("submit").disabled) submitPrompt();
    }
  });
  let draftTimer;
  $("prompt-form").addEventListener("input", () => {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(() => saveDraft(), 300);
  });

  $("cancel").addEventListener("click", cancelJob);
  $("copy").addEventListener("click", copyText);
  $("reuse").addEventListener("click", () => {
    if (!view.job) return;
    $("prompt").value = view.job.prompt || "";
    if (view.job.max_tokens) $("max-tokens").value = view.job.max_tokens;
    $("temperature").value = view.job.temperature ?? "";
    if (config.models.includes(view.job.model)) $("model").value = view.job.model;
    saveDraft();
    $("prompt").focus();
  });

  $("history-refresh").addEventListener("click", () => loadHistory());
  $("history-more").addEventListener("click", () => loadHistory({ more: true }));

  window.addEventListener("hashchange", () => {
    if (session.signedIn) routeFromHash();
  });
}

function routeFromHash() {
  const m = /^#job\/([0-9a-fA-F-]{8,64})$/.exec(location.hash);
  if (m && m[1] !== view.id) openJob(m[1], { focus: true });
}

// ---- the job view ---------------------------------------------------------------

function openJob(id, { job = null, firstDelayMs = 0, focus = false } = {}) {
  view.poller?.stop();
  view.poller = null;
  view.id = id;
  view.job = job;
  $("job").hidden = false;
  // Job ids are UUIDv7: the start is a timestamp shared by every job of
  // the same minute, so the short form is the random end.
  $("job-title").textContent = `Job …${id.slice(-8)}`;
  $("job-title").title = id;
  $("job-warning").hidden = true;
  renderJob(job || { job_id: id, status: "", generated_text: "" });
  markCurrentInHistory();
  if (focus) $("job-title").focus();
  if (!job || !TERMINAL.has(job.status)) startPolling(id, firstDelayMs);
}

function closeJob() {
  view.poller?.stop();
  Object.assign(view, { id: null, job: null, poller: null });
  $("job").hidden = true;
  if (location.hash.startsWith("#job/")) window.history.replaceState(null, "", location.pathname + location.search);
}

function startPolling(id, firstDelayMs) {
  view.poller?.stop();
  const poller = new JobPoller({
    api,
    id,
    firstDelayMs,
    onJob: (job) => {
      if (view.id !== id) return;
      $("job-warning").hidden = true;
      const before = view.job?.status;
      view.job = job;
      renderJob(job);
      updateHistoryItem(job);
      if (before !== job.status) announceStatus(job);
    },
    onError: (err, retryInMs) => {
      if (view.id !== id || err instanceof SessionEndedError) return;
      const w = $("job-warning");
      w.textContent = retryInMs != null
        ? `${err.message.replace(/ ?(The page will keep trying|Try again in [^.]*)\.?$/, "")} Checking again in ${Math.max(1, Math.round(retryInMs / 1000))} s.`
        : err.message;
      w.hidden = false;
      if (err instanceof ApiError && err.status === 404) {
        $("job-status").textContent = "Not found";
        $("job-status").dataset.status = "missing";
        $("cancel").hidden = true;
        announce(err.message);
      }
    },
  });
  view.poller = poller;
  poller.start();
}

function announceStatus(job) {
  switch (job.status) {
    case "running":
      announce("The job is running.");
      break;
    case "succeeded":
      announce(`The job succeeded: ${job.tokens?.output ?? 0} output tokens in ${formatDuration(job.duration_ms) || "no time"}.`);
      break;
    case "failed":
      announce(`The job failed. ${failureText(job)}`);
      break;
    case "cancelled":
      announce("The job was cancelled.");
      break;
    case "queued":
      announce("The job is queued.");
      break;
  }
}

const FAILURE_LEADS = {
  model_error: "The model could not answer this prompt.",
  retries_exhausted: "promptq tried several times and gave up.",
  enqueue_failed: "The job could not be queued.",
  purged: "The job was removed from the queue before it ran.",
};

function failureText(job) {
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

function renderJob(job) {
  const status = job.status || "";
  const badge = $("job-status");
  badge.textContent = status ? cap(status) : "Loading…";
  badge.dataset.status = status || "loading";

  const meta = [];
  if (job.model) meta.push(job.model);
  if (job.max_tokens) meta.push(`max ${job.max_tokens} tokens`);
  if (job.temperature != null) meta.push(`temperature ${job.temperature}`);
  if (job.created_at) meta.push(`submitted ${formatWhen(job.created_at)}`);
  $("job-meta").textContent = meta.join(" · ");

  $("job-prompt").textContent = job.prompt || "";
  $("job-prompt-box").hidden = !job.prompt;

  const live = status === "queued" || status === "running";
  const out = $("job-text");
  const text = job.generated_text || "";
  if (out.textContent !== text) out.textContent = text;
  out.setAttribute("aria-busy", live ? "true" : "false");
  out.dataset.live = String(live);
  out.dataset.empty = String(!text);
  out.dataset.placeholder = status === "queued" ? "Waiting for a worker…" : status === "running" ? "Writing…" : status ? "No text." : "";

  const failure = $("job-failure");
  failure.hidden = status !== "failed";
  if (status === "failed") failure.textContent = failureText(job);

  const done = TERMINAL.has(status) && job.tokens;
  $("job-stats").hidden = !done;
  if (done) {
    $("stat-input").textContent = String(job.tokens.input ?? 0);
    $("stat-output").textContent = String(job.tokens.output ?? 0);
    $("stat-duration").textContent = formatDuration(job.duration_ms) || "—";
    $("stat-stop-box").hidden = !job.stop_reason;
    $("stat-stop").textContent = STOP_REASONS[job.stop_reason] ? cap(STOP_REASONS[job.stop_reason]) : job.stop_reason || "";
  }

  $("cancel").hidden = !live;
  $("cancel").disabled = false;
  $("copy").disabled = !text;
  $("reuse").disabled = !job.prompt;
}

async function cancelJob() {
  const id = view.id;
  if (!id) return;
  $("cancel").disabled = true;
  try {
    const job = await api.cancel(id);
    if (view.id !== id) return;
    view.poller?.stop();
    view.job = job;
    renderJob(job);
    updateHistoryItem(job);
    announceStatus(job);
  } catch (err) {
    if (err instanceof SessionEndedError || view.id !== id) return;
    $("job-warning").textContent = err.message;
    $("job-warning").hidden = false;
    $("cancel").disabled = false;
    if (err instanceof ApiError && err.status === 409) {
      // It finished meanwhile: show how.
      openJob(id);
    }
  }
}

async function copyText() {
  const text = view.job?.generated_text || "";
  if (!text) return;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Older browsers, or clipboard permission refused: select and copy.
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.append(ta);
    ta.select();
    const ok = document.execCommand?.("copy");
    ta.remove();
    if (!ok) {
      announce("Could not copy. Select the text and copy it by hand.");
      return;
    }
  }
  const b = $("copy");
  b.textContent = "Copied";
  announce("The text is copied to the clipboard.");
  setTimeout(() => {
    b.textContent = "Copy text";
  }, 2000);
}

// ---- history ----------------------------------------------------------------------

function clearHistory() {
  hist.jobs = [];
  hist.cursor = "";
  $("history-list").replaceChildren();
  $("history-empty").hidden = true;
  $("history-more").hidden = true;
  $("history-error").hidden = true;
}

async function loadHistory({ more = false } = {}) {
  if (hist.loading) return;
  hist.loading = true;
  $("history").setAttribute("aria-busy", "true");
  $("history-refresh").disabled = true;
  $("history-more").disabled = true;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const { jobs, nextCursor } = await api.listJobs({ limit: HISTORY_PAGE, cursor: more ? hist.cursor : "" });
        hist.jobs = more ? [...hist.jobs, ...jobs] : mergeFirstPage(jobs, hist.jobs);
        hist.cursor = nextCursor;
        $("history-error").hidden = true;
        renderHistory();
        if (more) announce(`${jobs.length} older ${jobs.length === 1 ? "job" : "jobs"} shown.`);
        return;
      } catch (err) {
        if (err instanceof SessionEndedError) return;
        // A failure of a moment: try twice more, backing off, before
        // asking the person to.
        if (err instanceof ApiError && err.transient && attempt < HISTORY_ATTEMPTS) {
          await sleep(Math.max(backoff(attempt), (err.retryAfter ?? 0) * 1000));
          continue;
        }
        $("history-error").textContent = `Could not load your jobs. ${err.message}`;
        $("history-error").hidden = false;
        return;
      }
    }
  } finally {
    hist.loading = false;
    $("history").setAttribute("aria-busy", "false");
    $("history-refresh").disabled = false;
    $("history-more").disabled = false;
  }
}

// mergeFirstPage combines a fresh first page with what the page learnt
// while it was being fetched: jobs submitted since (newer than the page's
// newest) and statuses this page saw end.
function mergeFirstPage(page, known) {
  const ids = new Set(page.map((j) => j.job_id));
  const newest = page.length ? page[0].created_at : "";
  const newer = known.filter((j) => !ids.has(j.job_id) && j.created_at > newest);
  const ended = new Map(known.filter((j) => TERMINAL.has(j.status)).map((j) => [j.job_id, j.status]));
  const merged = page.map((j) => (ended.has(j.job_id) && !TERMINAL.has(j.status) ? { ...j, status: ended.get(j.job_id) } : j));
  return [...newer, ...merged];
}

function historyItem(job) {
  const li = document.createElement("li");
  li.dataset.jobId = job.job_id;
  const a = document.createElement("a");
  a.href = `#job/${job.job_id}`;
  a.className = "history-item";
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.dataset.status = job.status;
  badge.textContent = cap(job.status);
  const when = document.createElement("time");
  when.dateTime = job.created_at;
  when.textContent = formatWhen(job.created_at);
  const preview = document.createElement("span");
  preview.className = "preview";
  preview.textContent = (job.prompt || "").replace(/\s+/g, " ").slice(0, 140);
  const head = document.createElement("span");
  head.className = "item-head";
  head.append(badge, when);
  a.append(head, preview);
  a.setAttribute("aria-label", `${cap(job.status)}, ${when.textContent}: ${preview.textContent}`);
  li.append(a);
  return li;
}

function renderHistory() {
  const list = $("history-list");
  list.replaceChildren(...hist.jobs.map(historyItem));
  $("history-empty").hidden = hist.jobs.length > 0;
  $("history-more").hidden = !hist.cursor;
  markCurrentInHistory();
}

function updateHistoryItem(job) {
  const i = hist.jobs.findIndex((j) => j.job_id === job.job_id);
  const preview = { job_id: job.job_id, status: job.status, prompt: job.prompt, created_at: job.created_at };
  if (i >= 0) {
    if (hist.jobs[i].status === job.status) return;
    hist.jobs[i] = { ...hist.jobs[i], status: job.status };
  } else if (job.created_at) {
    hist.jobs = [preview, ...hist.jobs];
  } else {
    return;
  }
  renderHistory();
}

function markCurrentInHistory() {
  for (const li of $("history-list").children) {
    const a = li.firstElementChild;
    if (li.dataset.jobId === view.id) a.setAttribute("aria-current", "true");
    else a.removeAttribute("aria-current");
  }
}

boot();
