// promptq's web app: wires the forms and views to Cognito and the API.
// State lives in this module: the session (tokens in memory only), the
// open job and its poller, and the history list.

import {
  loadConfig, passwordRules, modelName, modelFor, modelChoices, maxTokensFor, emailDomainAllowed,
  DEFAULT_MAX_TOKENS,
} from "./config.js";
import { Cognito, CognitoError, NewPasswordRequired, expiredChallenge } from "./cognito.js";
import { Session, SessionEndedError, KEPT_KEY } from "./session.js";
import { Api, ApiError, TERMINAL } from "./api.js";
import { backoff } from "./poller.js";
import { JobCard, failureText, waitedMs } from "./jobcard.js";
import {
  formatDuration, formatWhen, titleOf, countChars, formatNumber, formatUSD, lowerFirst,
  modelFacts, effortNote, thinkingOf, sentence, waitText,
} from "./format.js";

const $ = (id) => document.getElementById(id);

// sessionStorage (this tab only), never tokens: the prompt being typed and
// its settings, and who was logged in (so a reload can say why the page
// asks again, with the email filled in). A session kept on this device
// (the person asked: session.js's Keeper) is in localStorage.
const DRAFT_KEY = "promptq.draft";
const SIGNED_IN_KEY = "promptq.signedIn";
const FIRST_POLL_AFTER_SUBMIT_MS = 1000;
const HISTORY_PAGE = 20;
const HISTORY_ATTEMPTS = 3;
// While listed jobs are queued or running, the history's first page is
// read again this often, so their statuses move without a Refresh.
const HISTORY_LIVE_REFRESH_MS = 4000;

let config;
let cognito;
let session;
let api;

// The jobs opened in this tab, each a card (web/js/jobcard.js) with its
// own poller, newest first; the first is the current one, which the
// address (#job/<id>) names.
const cards = [];
// At most this many cards stay open: past it, opening another closes the
// oldest that has ended (never one still running).
const MAX_CARDS = 8;
// History: the jobs listed so far, the cursor of the next page, and the
// timer that refreshes it while some are live.
const hist = { jobs: [], cursor: "", pages: 0, loading: false, queued: null, timer: null };
// A search of the whole history on the server (GET /jobs?q=): its words,
// the jobs found so far, where to search on from, and a counter that lets
// only the latest search's answers land.
const found = { q: "", jobs: [], cursor: "", searched: false, loading: false, seq: 0, timer: null };
// How long the search box waits for more typing before it asks the API.
const SEARCH_DEBOUNCE_MS = 300;
// What this tab sent for each job it submitted: the request body, so a
// job's card says which settings were the defaults.
const sent = new Map();
// The browser's clock minus the API's, learnt at each submission, so a
// running job's elapsed time is counted from when the API took it.
let clockSkew = 0;
// A submission that failed transiently keeps its key, so sending the same
// body again cannot create a second job.
let pending = null; // {key, body}
// The sign-up password, kept in memory only until the account is
// confirmed, to log in straight after.
let signupSecret = null;
// The new-password step's challenge ({email, session}: no password), from
// a first log-in with an administrator's temporary password.
let challenge = null;
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
  setUpSignUp();
  // On a phone the settings start folded (their line says what they are).
  if (window.matchMedia("(max-width: 860px)").matches) $("settings").open = false;
  setUpModels();
  restoreDraft();
  updateCount();
  wireAuth();
  wireWorkspace();

  // Signed in on this device: carry on, with the link in the address.
  let resumed = null;
  let unreachable = false;
  try {
    resumed = await session.resume();
  } catch {
    unreachable = true; // the kept token stays for the next load
  }
  $("boot").hidden = true;
  if (resumed) {
    await finishLogIn(resumed);
    document.body.dataset.ready = "true";
    return;
  }
  // No focus move at load: keyboard and screen-reader users start at the
  // top (the skip link), as on any page. After a reload that ended a
  // session, say why and fill in who it was.
  const was = readSignedIn();
  if (unreachable) {
    showAuth("login", { focus: false, notice: "Can't reach the sign-in service to carry on your session. Check your connection and reload the page, or log in." });
  } else if (was) {
    $("login-email").value = was.email || "";
    showAuth("login", {
      focus: false,
      notice: "The page was reloaded, so you need to log in again: promptq keeps your session in this tab's memory only, unless you tick “Keep me signed in on this device”. Your draft and the job you had open are kept.",
    });
  } else {
    showAuth("login", { focus: false });
  }
  document.body.dataset.ready = "true";
}

function readSignedIn() {
  try {
    return JSON.parse(sessionStorage.getItem(SIGNED_IN_KEY) || "null");
  } catch {
    return null;
  }
}

function writeSignedIn(user) {
  try {
    if (user) sessionStorage.setItem(SIGNED_IN_KEY, JSON.stringify({ email: user.email }));
    else sessionStorage.removeItem(SIGNED_IN_KEY);
  } catch {
    // Storage may be off; the notice is a nicety.
  }
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

const AUTH_FORMS = {
  login: "login-form", signup: "signup-form", confirm: "confirm-form", newpw: "newpw-form", forgot: "forgot-form", reset: "reset-form",
};

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

// setUpSignUp follows config.json's sign_up: no sign-up at all when
// accounts come from an administrator; the allowed domains named when
// only some may sign up.
function setUpSignUp() {
  const { mode, domains } = config.signUp;
  document.body.dataset.signUpMode = mode;
  if (mode === "invite") {
    for (const el of document.querySelectorAll("[data-sign-up-link]")) el.hidden = true;
    $("invite-only").hidden = false;
  }
  if (mode === "domains") {
    $("signup-domains").textContent = `Sign-up is open to addresses at ${listWords(domains)}.`;
    $("signup-domains").hidden = false;
  }
}

function listWords(items) {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}

// The password rules are listed under the sign-up form and the
// new-password form alike.
const RULE_LISTS = ["password-rules", "newpw-rules", "reset-rules"];

function renderRules() {
  for (const id of RULE_LISTS) renderRuleList($(id));
}

function renderRuleList(list) {
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

function checkRules(password, listId = "password-rules") {
  const failing = [];
  for (const r of passwordRules(config.passwordPolicy)) {
    const li = $(listId).querySelector(`[data-rule="${r.id}"]`);
    const ok = r.test(password);
    li.dataset.met = String(ok);
    li.querySelector(".state").textContent = ok ? " (done)" : " (not yet)";
    if (!ok) failing.push(lowerFirst(r.text));
  }
  return failing;
}

function wireAuth() {
  for (const b of document.querySelectorAll("[data-show]")) {
    b.addEventListener("click", () => {
      const to = b.dataset.show;
      if (to === "signup" && config.signUp.mode === "invite") return;
      // Carry the email between the forms.
      const inputs = [$("login-email"), $("signup-email"), $("confirm-email"), $("forgot-email")];
      const email = inputs.map((i) => i.value).find(Boolean) || "";
      for (const i of inputs) if (!i.value) i.value = email;
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
      await logIn(email, password, { keep: $("login-keep").checked });
    } catch (err) {
      if (err instanceof NewPasswordRequired) {
        showNewPassword(err);
        return;
      }
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
    if (!emailDomainAllowed(config.signUp, email)) {
      markInvalid($("signup-email"), true);
      setError("signup-error", config.signUp.mode === "invite"
        ? "Accounts are created by an administrator here."
        : `Only addresses at ${listWords(config.signUp.domains)} can sign up here.`);
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

  wireNewPassword();
  wireReset();

  $("logout").addEventListener("click", async () => {
    closeAllJobs();
    clearHistory();
    pending = null;
    endedUser = null;
    sent.clear();
    resetForm();
    saveDraft(true);
    writeSignedIn(null);
    await session.logOut();
    $("login-password").value = "";
    showAuth("login", { notice: "You have logged out." });
    announce("You have logged out.");
  });
}

// showNewPassword asks for a new password: the first log-in of an account
// an administrator created with a temporary one.
function showNewPassword(ch) {
  challenge = { email: ch.email, session: ch.session };
  $("login-password").value = "";
  $("newpw-email").value = ch.email;
  $("newpw-password").value = "";
  $("newpw-again").value = "";
  setError("newpw-error", "");
  markInvalid($("newpw-password"), false);
  markInvalid($("newpw-again"), false);
  checkRules("", "newpw-rules");
  showAuth("newpw");
  announce("Choose a new password to finish logging in.");
}

// leaveNewPassword forgets the challenge and goes back to log in.
function leaveNewPassword(notice = "") {
  const email = challenge?.email || "";
  challenge = null;
  $("newpw-password").value = "";
  $("newpw-again").value = "";
  setError("newpw-error", "");
  if (email) $("login-email").value = email;
  $("login-password").value = "";
  showAuth("login", { notice });
  if (notice) announce(notice);
}

function wireNewPassword() {
  $("newpw-password").addEventListener("input", (e) => checkRules(e.target.value, "newpw-rules"));
  $("newpw-show").addEventListener("change", (e) => {
    for (const id of ["newpw-password", "newpw-again"]) $(id).type = e.target.checked ? "text" : "password";
  });
  $("newpw-back").addEventListener("click", () => leaveNewPassword());

  $("newpw-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const password = $("newpw-password").value;
    const again = $("newpw-again").value;
    setError("newpw-error", "");
    markInvalid($("newpw-password"), false);
    markInvalid($("newpw-again"), false);
    if (!challenge) {
      leaveNewPassword("Log in again with the password you were given.");
      return;
    }
    const failing = checkRules(password, "newpw-rules");
    if (failing.length) {
      markInvalid($("newpw-password"), true);
      setError("newpw-error", `The password still needs: ${failing.join("; ")}.`);
      $("newpw-password").focus();
      return;
    }
    if (again !== password) {
      markInvalid($("newpw-again"), true);
      setError("newpw-error", "The two passwords are not the same. Type the new password again.");
      $("newpw-again").select();
      $("newpw-again").focus();
      return;
    }
    busy(form, true);
    try {
      await finishLogIn(await session.setNewPassword(challenge, password, { keep: $("login-keep").checked }));
      challenge = null;
      $("newpw-password").value = "";
      $("newpw-again").value = "";
    } catch (err) {
      if (expiredChallenge(err)) {
        leaveNewPassword("Choosing a new password took too long (the step lasts 3 minutes). Log in again with the password you were given.");
        return;
      }
      let msg = err.message;
      if (err.name === "InvalidPasswordException" && err.detail) msg = `${msg} ${err.detail}`;
      setError("newpw-error", msg);
      if (err.name === "InvalidPasswordException") {
        markInvalid($("newpw-password"), true);
        $("newpw-password").focus();
      }
    } finally {
      busy(form, false);
    }
  });
}

async function logIn(email, password, { keep = false } = {}) {
  await finishLogIn(await session.logIn(email, password, { keep }));
}

// wireReset wires "Forgot your password?": Cognito emails a code
// (ForgotPassword), which with a new password (ConfirmForgotPassword)
// sets it; then the page logs in with it.
function wireReset() {
  const send = async (email) => {
    const out = await cognito.forgotPassword(email);
    const where = out.CodeDeliveryDetails?.Destination || email;
    return `If an account has the address ${where}, we emailed it a code. Enter it with your new password.`;
  };
  // Cognito answers an address with no account as one with (no one
  // learns who has an account here); cognito-local says it has none.
  const sent = (err, email) => err instanceof CognitoError && err.name === "UserNotFoundException"
    ? `If an account has the address ${email}, we emailed it a code. Enter it with your new password.` : null;

  $("forgot-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const email = normEmail($("forgot-email").value);
    setError("forgot-error", "");
    markInvalid($("forgot-email"), false);
    if (!validEmail(email)) {
      markInvalid($("forgot-email"), true);
      setError("forgot-error", "Enter the email address you signed up with.");
      $("forgot-email").focus();
      return;
    }
    busy(form, true);
    let intro;
    try {
      intro = await send(email);
    } catch (err) {
      intro = sent(err, email);
      if (!intro) {
        busy(form, false);
        const unconfirmed = err instanceof CognitoError && err.name === "InvalidParameterException";
        setError("forgot-error", unconfirmed
          ? "This account's address is not confirmed yet, so its password cannot be reset by email: confirm it with the code we emailed at sign-up first."
          : `Could not send a code. ${err.message}`);
        return;
      }
    }
    busy(form, false);
    $("reset-email").value = email;
    $("login-email").value = email;
    for (const id of ["reset-code", "reset-password", "reset-again"]) $(id).value = "";
    setError("reset-error", "");
    checkRules("", "reset-rules");
    $("reset-intro").textContent = intro;
    showAuth("reset");
    announce(intro);
  });

  $("reset-password").addEventListener("input", (e) => checkRules(e.target.value, "reset-rules"));
  $("reset-show").addEventListener("change", (e) => {
    for (const id of ["reset-password", "reset-again"]) $(id).type = e.target.checked ? "text" : "password";
  });
  $("reset-resend").addEventListener("click", async () => {
    const email = $("reset-email").value;
    setError("reset-error", "");
    $("reset-resend").disabled = true;
    try {
      const intro = await send(email);
      $("reset-intro").textContent = intro.replace(/we emailed it a code/, "we emailed it a new code");
      announce($("reset-intro").textContent);
      $("reset-code").value = "";
      $("reset-code").focus();
    } catch (err) {
      const intro = sent(err, email);
      if (intro) $("reset-intro").textContent = intro;
      else setError("reset-error", `Could not send a new code. ${err.message}`);
    } finally {
      // A short pause stops accidental double sends.
      setTimeout(() => {
        $("reset-resend").disabled = false;
      }, 3000);
    }
  });

  $("reset-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const email = $("reset-email").value;
    const code = $("reset-code").value.trim();
    const password = $("reset-password").value;
    const again = $("reset-again").value;
    setError("reset-error", "");
    for (const id of ["reset-code", "reset-password", "reset-again"]) markInvalid($(id), false);
    const fail = (id, text) => {
      markInvalid($(id), true);
      setError("reset-error", text);
      $(id).focus();
    };
    if (!code) return fail("reset-code", "Enter the code from the email.");
    const failing = checkRules(password, "reset-rules");
    if (failing.length) return fail("reset-password", `The password still needs: ${failing.join("; ")}.`);
    if (again !== password) return fail("reset-again", "The two passwords are not the same. Type the new password again.");
    busy(form, true);
    try {
      await cognito.confirmForgotPassword(email, code, password);
    } catch (err) {
      busy(form, false);
      let msg = err.message;
      if (err.name === "InvalidPasswordException" && err.detail) msg = `${msg} ${err.detail}`;
      if (err.name === "CodeMismatchException") msg = "That code is not right. Check the email we sent, or ask for a new code.";
      setError("reset-error", msg);
      if (err.name === "CodeMismatchException" || err.name === "ExpiredCodeException") {
        markInvalid($("reset-code"), true);
        $("reset-code").select();
        $("reset-code").focus();
      }
      if (err.name === "InvalidPasswordException") markInvalid($("reset-password"), true);
      return;
    }
    for (const id of ["reset-code", "reset-password", "reset-again"]) $(id).value = "";
    try {
      announce("Your password is changed. Logging you in.");
      await logIn(email, password, { keep: $("login-keep").checked });
    } catch {
      showAuth("login", { notice: "Your password is changed. Log in with it." });
    } finally {
      busy(form, false);
    }
  });
}

// finishLogIn opens the workspace for the user who just logged in.
async function finishLogIn(user) {
  writeSignedIn(user);
  $("login-password").value = "";
  $("signup-password").value = "";
  checkRules("");
  const same = endedUser && endedUser.sub === user.sub;
  if (!same) {
    // Someone else: nothing of the last person's stays, but the link in
    // the address bar (a job this person may have come back to) does.
    closeAllJobs({ keepLink: true });
    clearHistory();
    clearUsage();
    pending = null;
    sent.clear();
  }
  endedUser = null;
  showWorkspace();
  announce(`Logged in as ${user.email}.`);
  loadHistory();
  loadUsage();
  if (same && cards.length) {
    // Carry on watching the jobs that were open.
    for (const c of cards) if (c.live) c.poll(0);
  } else {
    routeFromHash();
  }
}

function onSessionEnded() {
  endedUser = session.user;
  for (const c of cards) c.stop();
  stopHistoryTimer();
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

// setUpModels lists the models of config.json to choose from: the
// default first and once (its value "" sends no model, so the API's
// default applies), then the others, each with what it costs and writes.
function setUpModels() {
  const choices = modelChoices(config).map(({ value, model, isDefault }, i) => {
    const label = document.createElement("label");
    label.className = "model-choice";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "model";
    input.value = value;
    input.checked = value === "";
    const name = document.createElement("span");
    name.className = "model-name";
    name.id = `model-name-${i}`;
    name.textContent = model ? `${model.name}${isDefault ? " (default)" : ""}` : "The default model";
    if (model && model.name !== model.id) name.title = model.id;
    const facts = document.createElement("span");
    facts.className = "hint";
    facts.id = `model-facts-${i}`;
    facts.textContent = model ? modelFacts(model, { standIn: config.standIn }) : "";
    input.setAttribute("aria-labelledby", name.id);
    input.setAttribute("aria-describedby", `${facts.id} prompt-error`);
    label.append(input, name, facts);
    return label;
  });
  $("model-choices").replaceChildren(...choices);
  $("model-field").hidden = !config.models.length;
  updateModelSettings();
}

// modelValue is the model chosen ("" for the default); setModel chooses
// one, or the default if value is none of the choices.
function modelValue() {
  return document.querySelector("#model-choices input:checked")?.value || "";
}

function setModel(value) {
  const radios = [...document.querySelectorAll("#model-choices input")];
  const r = radios.find((i) => i.value === value) || radios.find((i) => i.value === "");
  if (r) r.checked = true;
}

// modelInput is the chosen model's radio button, to mark or focus.
function modelInput() {
  return document.querySelector("#model-choices input:checked") || $("model-choices");
}

// chosenModel is what the page knows of the model the form would use.
function chosenModel() {
  return modelFor(config, modelValue());
}

// updateModelSettings makes the form follow the chosen model: its output
// limit caps max tokens, an effort choice where it takes one (the level
// chosen kept where the new model takes it too), a temperature only where
// it takes one, and what the model costs and writes.
function updateModelSettings() {
  const m = chosenModel();
  const max = maxTokensFor(config, modelValue());
  $("max-tokens").max = String(max);
  $("max-tokens-hint").textContent = `1 to ${formatNumber(max)}. Empty: the default, ${formatNumber(DEFAULT_MAX_TOKENS)}.`;

  const effort = $("effort");
  const kept = effort.value;
  // The default level's value is "": no effort is sent, and the API
  // applies its default.
  const options = m.defaultEffort ? [] : [["", "the model's default"]];
  for (const e of m.efforts) {
    const text = `${e}${e === m.defaultEffort ? " (default)" : ""}${m.thinkingEfforts.includes(e) ? " (thinks)" : ""}`;
    options.push([e === m.defaultEffort ? "" : e, text]);
  }
  effort.replaceChildren(...options.map(([value, text]) => {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    return o;
  }));
  effort.value = m.efforts.includes(kept) && kept !== m.defaultEffort ? kept : "";
  $("effort-field").hidden = !m.efforts.length;
  $("effort-hint").textContent = effortNote(m);

  // A model that takes no temperature gets none: the field goes (what was
  // typed stays for a model that does) and nothing is sent.
  $("temperature-field").hidden = !m.temperature;
  if (!m.temperature) markInvalid($("temperature"), false);
  updateSettingsSummary();
}

// updateSettingsSummary says on the settings' line what they are, so
// they can stay folded on a phone.
function updateSettingsSummary() {
  const m = chosenModel();
  const parts = [];
  if (config.models.length) parts.push(`${m.name}${modelValue() ? "" : " (default)"}`);
  const mt = $("max-tokens").value.trim();
  parts.push(`max ${mt === "" ? `${formatNumber(DEFAULT_MAX_TOKENS)} (default)` : /^\d+$/.test(mt) ? formatNumber(Number(mt)) : mt} tokens`);
  if (m.efforts.length) parts.push(`effort ${$("effort").value || m.defaultEffort || "default"}`);
  if (m.temperature && $("temperature").value.trim()) parts.push(`temperature ${$("temperature").value.trim()}`);
  $("settings-summary").textContent = parts.join(" · ");
}

// revealField unfolds the settings around input, so a field named in an
// error can be seen and focused.
function revealField(input) {
  const d = input.closest("details");
  if (d) d.open = true;
}

// resetForm puts the prompt form back as a new visitor finds it.
function resetForm() {
  $("prompt").value = "";
  setModel("");
  $("max-tokens").value = String(DEFAULT_MAX_TOKENS);
  $("temperature").value = "";
  $("effort").value = "";
  for (const f of [$("prompt"), $("max-tokens"), $("temperature"), modelInput(), $("effort")]) markInvalid(f, false);
  setError("prompt-error", "");
  updateModelSettings();
  updateCount();
}

// updateCount shows the prompt's length against the API's limit.
function updateCount() {
  const n = countChars($("prompt").value);
  const max = config.maxPromptChars;
  const el = $("prompt-count");
  el.textContent = n ? `${formatNumber(n)} / ${formatNumber(max)} characters` : `Up to ${formatNumber(max)} characters`;
  el.dataset.over = String(n > max);
}

function readDraft() {
  return {
    prompt: $("prompt").value,
    model: modelValue(),
    max_tokens: $("max-tokens").value,
    temperature: $("temperature").value,
    effort: $("effort").value,
  };
}

function saveDraft(clear = false) {
  try {
    const d = readDraft();
    if (clear || (!d.prompt && !d.temperature && !d.effort && d.max_tokens === String(DEFAULT_MAX_TOKENS) && !d.model)) sessionStorage.removeItem(DRAFT_KEY);
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
  if (d.model) setModel(d.model);
  if (d.max_tokens != null) $("max-tokens").value = d.max_tokens;
  if (d.temperature != null) $("temperature").value = d.temperature;
  updateModelSettings();
  if (d.effort && [...$("effort").options].some((o) => o.value === d.effort)) $("effort").value = d.effort;
  updateSettingsSummary();
}

// buildRequest checks the form and returns the request body, or null
// after marking what is wrong.
function buildRequest() {
  const fields = [$("prompt"), $("max-tokens"), $("temperature"), modelInput(), $("effort")];
  fields.forEach((f) => markInvalid(f, false));
  const fail = (input, text) => {
    markInvalid(input, true);
    setError("prompt-error", text);
    revealField(input);
    input.focus();
    return null;
  };
  const prompt = $("prompt").value;
  if (!prompt.trim()) return fail($("prompt"), "Write a prompt first.");
  const n = countChars(prompt);
  if (n > config.maxPromptChars) {
    const over = n - config.maxPromptChars;
    return fail($("prompt"), `The prompt has ${formatNumber(n)} characters; promptq takes at most ${formatNumber(config.maxPromptChars)} characters. Shorten it by ${formatNumber(over)}.`);
  }
  const body = { prompt };
  const mt = $("max-tokens").value.trim();
  // A field the browser could not read as a number reads as empty: refuse
  // it rather than send the default.
  if (mt !== "" || $("max-tokens").validity.badInput) {
    const n = Number(mt);
    const max = maxTokensFor(config, modelValue());
    if (mt === "" || !Number.isInteger(n) || n < 1 || n > max) return fail($("max-tokens"), `Max tokens must be a whole number from 1 to ${formatNumber(max)}, or empty for the default (${formatNumber(DEFAULT_MAX_TOKENS)}).`);
    body.max_tokens = n;
  }
  const model = chosenModel();
  const t = $("temperature").value.trim();
  if (model.temperature && (t !== "" || $("temperature").validity.badInput)) {
    const x = Number(t);
    if (!Number.isFinite(x) || x < 0 || x > 1) return fail($("temperature"), "Temperature must be a number from 0 to 1, or empty for the model's default.");
    body.temperature = x;
  }
  if (model.efforts.length && $("effort").value) body.effort = $("effort").value;
  if (modelValue()) body.model = modelValue();
  return body;
}

const FIELD_INPUTS = { prompt: "prompt", max_tokens: "max-tokens", temperature: "temperature", model: "model", effort: "effort" };

// A Ctrl+Enter pressed while a submission is on its way is kept, and acted
// on once that one is done, so no prompt is dropped.
let submitting = false;
let submitAgain = false;

async function submitPrompt() {
  if (submitting) {
    submitAgain = true;
    return;
  }
  setError("prompt-error", "");
  const body = buildRequest();
  if (!body) return;
  const same = pending && JSON.stringify(pending.body) === JSON.stringify(body);
  const key = same ? pending.key : crypto.randomUUID();
  pending = { key, body };
  const form = $("prompt-form");
  submitting = true;
  busy(form, true);
  $("submit").textContent = "Submitting…";
  try {
    const accepted = await send(body, key);
    pending = null;
    // Clear the prompt only if it is still the one sent (it may have been
    // edited while it was on its way).
    if ($("prompt").value === body.prompt) {
      $("prompt").value = "";
      updateCount();
      saveDraft();
    }
    announce(`Job submitted. It is ${accepted.status}.`);
    loadUsage();
  } catch (err) {
    submitAgain = false;
    if (err instanceof SessionEndedError) return; // the log-in form says so; the prompt stays
    setError("prompt-error", err.message);
    const input = err instanceof ApiError && FIELD_INPUTS[err.field] && (err.field === "model" ? modelInput() : $(FIELD_INPUTS[err.field]));
    if (input) {
      markInvalid(input, true);
      revealField(input);
    }
    (input || $("prompt")).focus();
    if (!(err instanceof ApiError && err.transient)) pending = null;
  } finally {
    submitting = false;
    busy(form, false);
    $("submit").textContent = "Generate";
  }
  if (submitAgain) {
    submitAgain = false;
    if ($("prompt").value.trim()) submitPrompt();
  }
}

// send submits body as a new job and opens it: in the history at once, on
// the screen where the eye is.
async function send(body, key) {
  const accepted = await api.generate(body, key);
  sent.set(accepted.job_id, body);
  const model = modelFor(config, body.model);
  return opened(accepted, {
    prompt: body.prompt,
    system: body.system,
    model: body.model || config.defaultModel || "",
    max_tokens: body.max_tokens ?? DEFAULT_MAX_TOKENS,
    temperature: body.temperature,
    effort: model.efforts.length ? body.effort || model.defaultEffort : undefined,
    thinking: thinkingOf(model, body.effort) || undefined,
    generated_text: "",
  });
}

// opened lists and opens a job the API just accepted, known so far as
// fields says.
function opened(accepted, fields) {
  const created = Date.parse(accepted.created_at);
  if (Number.isFinite(created)) clockSkew = Date.now() - created;
  const job = { ...fields, job_id: accepted.job_id, status: accepted.status, lane: accepted.lane, created_at: accepted.created_at };
  addToHistory(job);
  window.history.pushState(null, "", `#job/${accepted.job_id}`);
  openJob(accepted.job_id, { job, firstDelayMs: FIRST_POLL_AFTER_SUBMIT_MS, focus: true, reveal: true });
  return accepted;
}

// runAgain sends a card's job again as a new job with the same settings.
async function runAgain(card) {
  const job = card.job;
  if (!job || !job.prompt) return;
  const body = { prompt: job.prompt };
  if (job.system) body.system = job.system;
  if (job.model) body.model = job.model;
  if (job.max_tokens) body.max_tokens = job.max_tokens;
  if (job.temperature != null) body.temperature = job.temperature;
  if (job.effort) body.effort = job.effort;
  await sendFromCard(card, "job-again", () => send(body, crypto.randomUUID()), "Sent again as a new job.", "Could not send it again.");
}

// continueJob goes on with a card's answer, which stopped at max tokens,
// as a new job that starts with its text (POST /generate's continue): the
// job stays as it ended, and the new one shows the whole answer growing.
async function continueJob(card) {
  const job = card.job;
  if (!job) return;
  await sendFromCard(card, "job-continue", async () => {
    const accepted = await api.generate({ continue: job.job_id }, crypto.randomUUID());
    return opened(accepted, {
      prompt: job.prompt, system: job.system, model: job.model, max_tokens: job.max_tokens, temperature: job.temperature,
      effort: job.effort, thinking: job.thinking, lane: accepted.lane, generated_text: job.generated_text, continues: job.job_id,
    });
  }, "Continuing the answer as a new job.", "Could not continue it.");
}

async function sendFromCard(card, button, fn, said, failed) {
  const b = card.part(button);
  b.disabled = true;
  try {
    await fn();
    announce(said);
    loadUsage();
  } catch (err) {
    if (err instanceof SessionEndedError) return;
    card.part("job-warning").textContent = `${failed} ${err.message}`;
    card.part("job-warning").hidden = false;
  } finally {
    b.disabled = false;
  }
}

// reuse puts a card's prompt and settings in the composer.
function reuse(card) {
  const job = card.job;
  if (!job) return;
  $("prompt").value = job.prompt || "";
  const mine = sent.get(job.job_id);
  $("max-tokens").value = mine && mine.max_tokens == null ? "" : job.max_tokens || "";
  $("temperature").value = job.temperature ?? "";
  const choice = modelChoices(config).find((c) => c.model?.id === job.model);
  setModel(choice ? choice.value : "");
  updateModelSettings();
  if ([...$("effort").options].some((o) => o.value === job.effort)) $("effort").value = job.effort;
  updateSettingsSummary();
  updateCount();
  saveDraft();
  $("prompt").focus();
}

function wireWorkspace() {
  $("prompt-form").addEventListener("submit", (e) => {
    e.preventDefault();
    submitPrompt();
  });
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      submitPrompt();
    }
  });
  // The draft is kept as it is typed (sessionStorage writes are cheap), so
  // a reload right after typing loses nothing.
  $("prompt-form").addEventListener("input", () => {
    updateCount();
    updateSettingsSummary();
    saveDraft();
  });
  $("prompt").addEventListener("input", () => {
    if (countChars($("prompt").value) <= config.maxPromptChars) markInvalid($("prompt"), false);
  });
  $("model-choices").addEventListener("change", () => {
    updateModelSettings();
    saveDraft();
  });
  window.addEventListener("pagehide", () => {
    if (session.signedIn) saveDraft();
  });


  $("history-refresh").addEventListener("click", () => loadHistory());
  $("usage-refresh").addEventListener("click", () => loadUsage({ say: true }));
  $("history-more").addEventListener("click", () => (found.q ? searchHistory({ more: true }) : loadHistory({ more: true })));
  $("history-search").addEventListener("input", () => {
    clearTimeout(found.timer);
    found.timer = setTimeout(() => searchHistory(), SEARCH_DEBOUNCE_MS);
  });
  $("history-search").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      clearTimeout(found.timer);
      searchHistory();
    }
  });
  $("history-status").addEventListener("change", renderHistory);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) scheduleHistoryRefresh();
  });

  window.addEventListener("hashchange", () => {
    if (session.signedIn) routeFromHash();
  });
  // Logged out in another tab of a session kept on this device: its
  // refresh token is revoked, so this tab's session is over too.
  window.addEventListener("storage", (e) => {
    if (e.key === KEPT_KEY && !e.newValue && session.signedIn && session.lasting) session.end();
  });
}

function routeFromHash() {
  const m = /^#job\/([0-9a-fA-F-]{8,64})$/.exec(location.hash);
  if (m && m[1] !== currentCard()?.id) openJob(m[1], { focus: true, reveal: true });
}

// ---- the jobs ------------------------------------------------------------------

// host is what a card asks of the workspace (web/js/jobcard.js).
const host = {
  get config() {
    return config;
  },
  get api() {
    return api;
  },
  announce: (text) => announce(text),
  sent: (id) => sent.get(id),
  skew: () => clockSkew,
  onJob(card, job, before) {
    updateHistoryItem(job);
    if (before?.status !== job.status) announceStatus(job);
    // A job that ended was charged what it used and released the rest; a
    // cancelled one may be charged a moment later, for the call its
    // worker stopped.
    const ended = TERMINAL.has(job.status) && before?.status !== job.status;
    if (ended || (TERMINAL.has(job.status) && before?.charged?.tokens !== job.charged?.tokens)) loadUsage();
  },
  onAction(card, action) {
    switch (action) {
      case "again":
        runAgain(card);
        break;
      case "continue":
        continueJob(card);
        break;
      case "reuse":
        reuse(card);
        break;
      case "close":
        closeJob(card, { focusNext: true });
        break;
    }
  },
};

function currentCard() {
  return cards[0] || null;
}

// openJob shows job id's card first (a new card, or the one already
// open), as the current one, and polls it until it ends.
function openJob(id, { job = null, firstDelayMs = 0, focus = false, reveal = false } = {}) {
  let card = cards.find((c) => c.id === id);
  if (card) {
    cards.splice(cards.indexOf(card), 1);
    if (job) {
      card.job = job;
      card.render(job);
    }
  } else {
    card = new JobCard(host, id, job);
  }
  cards.unshift(card);
  $("jobs").prepend(card.el);
  markCurrent();
  // Past the most cards, the oldest that ended goes.
  for (let i = cards.length - 1; cards.length > MAX_CARDS && i > 0; i--) {
    if (!cards[i].live) closeJob(cards[i], { keepLink: true });
  }
  // The answer is where the eye is: the job sits above the composer, and
  // is scrolled to when it opens.
  if (reveal) card.el.scrollIntoView({ block: "start" });
  if (focus) card.focusTitle();
  if (card.live && !card.poller) card.poll(firstDelayMs);
}

// closeJob closes a card (its job goes on: it is in the history). The
// address then names the next card, if any; focus moves to it, or to the
// prompt, when the close was asked for.
function closeJob(card, { keepLink = false, focusNext = false } = {}) {
  const i = cards.indexOf(card);
  if (i < 0) return;
  cards.splice(i, 1);
  card.remove();
  markCurrent();
  const next = currentCard();
  if (!keepLink && i === 0) {
    const where = next ? `#job/${next.id}` : location.pathname + location.search;
    window.history.replaceState(null, "", where);
  }
  if (focusNext) {
    if (next) next.focusTitle();
    else $("prompt").focus();
    announce(`Closed ${sentence(card.part("job-title").textContent)}`);
  }
}

function closeAllJobs({ keepLink = false } = {}) {
  for (const c of [...cards]) closeJob(c, { keepLink: true });
  if (!keepLink && location.hash.startsWith("#job/")) window.history.replaceState(null, "", location.pathname + location.search);
}

// markCurrent marks the first card, and its job in the history.
function markCurrent() {
  cards.forEach((c, i) => {
    if (i === 0) c.el.dataset.current = "true";
    else delete c.el.dataset.current;
  });
  markCurrentInHistory();
}

function announceStatus(job) {
  const title = sentence(titleOf(job.prompt));
  switch (job.status) {
    case "running":
      announce(`${title} The job is running.`);
      break;
    case "succeeded":
      announce(`${title} The job succeeded: ${job.tokens?.output ?? 0} output tokens in ${formatDuration(waitedMs(job)) || "no time"}.`);
      break;
    case "failed":
      announce(`${title} The job failed. ${failureText(job)}`);
      break;
    case "cancelled":
      announce(`${title} The job was cancelled.`);
      break;
    case "queued":
      // A job given back to wait says why (a retry, capacity).
      announce(`${title} ${waitText(job, Date.now() - clockSkew) || "The job is queued."}`);
      break;
  }
}

function modelLabel(job) {
  return job.model ? modelName(config, job.model) : "";
}

// ---- history ----------------------------------------------------------------------

// ---- usage ---------------------------------------------------------------------

// loadUsage shows the person's day (GET /usage): what the model charged
// (by model), what unfinished jobs hold in reserve, what is left of the
// daily budget, and jobs queued or running against the cap. Read after
// log-in, a submission and a job's end, and on Update.
// The panel is no live region: a refresh of its own is not read out, only
// one that was asked for (Update), in a sentence.
async function loadUsage({ say = false } = {}) {
  try {
    const u = await api.usage();
    if (!session.signedIn) return;
    renderUsage(u);
    $("usage-error").hidden = true;
    if (say) announce(`Usage updated: ${formatNumber(u.tokens.charged)} tokens used today, estimated cost ${formatUSD(u.estimated_cost_usd)}.`);
  } catch (err) {
    if (err instanceof SessionEndedError) return;
    $("usage-error").textContent = `Could not load your usage. ${err.message}`;
    $("usage-error").hidden = false;
    if (say) announce($("usage-error").textContent);
  }
}

function renderUsage(u) {
  $("usage-charged").textContent = formatNumber(u.tokens.charged);
  $("usage-reserved").textContent = formatNumber(u.tokens.reserved);
  $("usage-left").textContent = u.budget
    ? `${formatNumber(u.budget.remaining)} of ${formatNumber(u.budget.tokens_per_day)}`
    : "No daily limit";
  $("usage-jobs").textContent = u.jobs.cap != null
    ? `${formatNumber(u.jobs.active)} of at most ${formatNumber(u.jobs.cap)}`
    : formatNumber(u.jobs.active);
  $("usage-cost").textContent = formatUSD(u.estimated_cost_usd);
  const models = (u.by_model || []).map((m) => {
    let s = `${m.name || m.model}${m.economy ? " (economy lane)" : ""}: ${formatNumber(m.input)} in, ${formatNumber(m.output)} out`;
    if (m.cache_read || m.cache_write) s += `, ${formatNumber(m.cache_read)} cache read, ${formatNumber(m.cache_write)} cache write`;
    return m.cost_usd != null ? `${s} (${formatUSD(m.cost_usd)})` : s;
  });
  const standIn = config.standIn ? " The local stand-in answered for every model, at $0." : "";
  $("usage-models").textContent = models.length ? `By model — ${models.join("; ")}.${standIn} Resets at 00:00 UTC.` : "";
  $("usage-models").hidden = !models.length;
}

function clearUsage() {
  for (const id of ["usage-charged", "usage-cost", "usage-reserved", "usage-left", "usage-jobs"]) $(id).textContent = "–";
  $("usage-models").hidden = true;
  $("usage-error").hidden = true;
}

function clearHistory() {
  hist.jobs = [];
  hist.cursor = "";
  hist.pages = 0;
  hist.queued = null;
  stopHistoryTimer();
  $("history-list").replaceChildren();
  $("history-empty").hidden = true;
  $("history-none").hidden = true;
  $("history-more").hidden = true;
  $("history-error").hidden = true;
  $("history-search").value = "";
  $("history-status").value = "";
  clearTimeout(found.timer);
  Object.assign(found, { q: "", jobs: [], cursor: "", searched: false, loading: false, seq: found.seq + 1 });
  $("history-search-error").hidden = true;
}

async function loadHistory({ more = false, quiet = false } = {}) {
  if (hist.loading) {
    // Asked for while a load runs (a background refresh, say): done next.
    if (!quiet) hist.queued = { more };
    return;
  }
  hist.loading = true;
  $("history").setAttribute("aria-busy", "true");
  if (!quiet) {
    $("history-refresh").disabled = true;
    $("history-more").disabled = true;
  }
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const { jobs, nextCursor } = await api.listJobs({ limit: HISTORY_PAGE, cursor: more ? hist.cursor : "" });
        if (!session.signedIn) return;
        if (more) hist.jobs = [...hist.jobs, ...jobs.filter((j) => !hist.jobs.some((k) => k.job_id === j.job_id))];
        else hist.jobs = mergeFirstPage(jobs, hist.jobs);
        // Refreshing the first page keeps the place of older pages loaded.
        if (more || hist.pages <= 1) hist.cursor = nextCursor;
        hist.pages = more ? hist.pages + 1 : Math.max(hist.pages, 1);
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
        if (quiet) return; // the next refresh tries again
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
    const next = hist.queued;
    hist.queued = null;
    if (next && session.signedIn) loadHistory(next);
    else scheduleHistoryRefresh();
  }
}

// scheduleHistoryRefresh reads the first page again in a while if a
// listed job is still queued or running (and the tab is seen), so the
// list's statuses move by themselves.
function scheduleHistoryRefresh() {
  if (hist.timer || document.hidden || !session.signedIn) return;
  if (!hist.jobs.some((j) => !TERMINAL.has(j.status))) return;
  hist.timer = setTimeout(() => {
    hist.timer = null;
    loadHistory({ quiet: true });
  }, HISTORY_LIVE_REFRESH_MS);
}

function stopHistoryTimer() {
  clearTimeout(hist.timer);
  hist.timer = null;
}

// mergeFirstPage combines a fresh first page with what the page knew:
// every job either lists (jobs just submitted that the API does not list
// yet, older pages already loaded), the page's data winning, except for
// statuses this page saw end. Newest first, as the API lists them.
function mergeFirstPage(page, known) {
  const byId = new Map(known.map((j) => [j.job_id, j]));
  for (const j of page) {
    const before = byId.get(j.job_id);
    byId.set(j.job_id, before && TERMINAL.has(before.status) && !TERMINAL.has(j.status) ? { ...j, status: before.status } : j);
  }
  return [...byId.values()].sort(newestFirst);
}

function newestFirst(a, b) {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? 1 : -1;
  return a.job_id < b.job_id ? 1 : a.job_id > b.job_id ? -1 : 0; // UUIDv7: ids sort by time
}

// addToHistory lists a job this page just submitted, at once.
function addToHistory(job) {
  if (hist.jobs.some((j) => j.job_id === job.job_id)) return;
  hist.jobs = [{ ...job }, ...hist.jobs].sort(newestFirst);
  renderHistory();
  scheduleHistoryRefresh();
}

const STATUS_FILTERS = {
  live: (j) => j.status === "queued" || j.status === "running",
  succeeded: (j) => j.status === "succeeded",
  failed: (j) => j.status === "failed",
  cancelled: (j) => j.status === "cancelled",
};

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
  const title = document.createElement("span");
  title.className = "title";
  title.dir = "auto";
  title.textContent = titleOf(job.prompt);
  const preview = document.createElement("span");
  preview.className = "preview";
  preview.dir = "auto";
  preview.textContent = (job.prompt || "").replace(/\s+/g, " ").slice(0, 140);
  const head = document.createElement("span");
  head.className = "item-head";
  head.append(badge, when);
  const foot = document.createElement("span");
  foot.className = "item-foot";
  const model = document.createElement("span");
  model.className = "model";
  model.textContent = modelLabel(job);
  foot.append(model);
  if (job.lane === "bulk") {
    const lane = document.createElement("span");
    lane.className = "tag";
    lane.textContent = "bulk";
    lane.title = "Sent in bulk: it runs when interactive jobs leave room.";
    foot.append(lane);
  }
  a.append(head, title, preview, foot);
  const lane = job.lane === "bulk" ? ", bulk" : "";
  a.setAttribute("aria-label", `${sentence(titleOf(job.prompt))} ${cap(job.status)}, ${when.textContent}${job.model ? `, ${modelLabel(job)}` : ""}${lane}.`);
  li.append(a);
  return li;
}

// searchHistory searches the whole history for the search box's words
// (GET /jobs?q=, on the server: every word of every prompt and answer),
// or, with more, the jobs older than those searched so far. An empty box
// shows the history again.
async function searchHistory({ more = false } = {}) {
  const q = $("history-search").value.trim();
  $("history-search-error").hidden = true;
  if (!q) {
    Object.assign(found, { q: "", jobs: [], cursor: "", searched: false, seq: found.seq + 1 });
    renderHistory();
    return;
  }
  if (!more && q === found.q && found.searched) return;
  const seq = ++found.seq;
  if (!more) Object.assign(found, { q, jobs: [], cursor: "", searched: false });
  found.loading = true;
  $("history").setAttribute("aria-busy", "true");
  $("history-more").disabled = true;
  renderHistory();
  try {
    const { jobs, nextCursor } = await api.listJobs({ limit: HISTORY_PAGE, cursor: more ? found.cursor : "", search: q });
    if (seq !== found.seq || !session.signedIn) return;
    found.jobs = [...found.jobs, ...jobs.filter((j) => !found.jobs.some((k) => k.job_id === j.job_id))];
    found.cursor = nextCursor;
    found.searched = true;
    const n = found.jobs.length;
    announce(n ? `${n} ${n === 1 ? "job matches" : "jobs match"} “${q}”${nextCursor ? " so far" : ""}.` : `No job matches “${q}”${nextCursor ? " so far" : ""}.`);
  } catch (err) {
    if (seq !== found.seq || err instanceof SessionEndedError) return;
    $("history-search-error").textContent = err instanceof ApiError && err.field === "q" ? err.message : `Could not search your jobs. ${err.message}`;
    $("history-search-error").hidden = false;
    if (err instanceof ApiError && err.field === "q") markInvalid($("history-search"), true);
  } finally {
    if (seq === found.seq) {
      found.loading = false;
      $("history").setAttribute("aria-busy", "false");
      $("history-more").disabled = false;
      renderHistory();
    }
  }
}

function renderHistory() {
  const filter = STATUS_FILTERS[$("history-status").value];
  const searching = Boolean(found.q);
  if (!searching) markInvalid($("history-search"), false);
  const from = searching ? found.jobs : hist.jobs;
  const shown = from.filter((j) => !filter || filter(j));
  $("history-list").replaceChildren(...shown.map(historyItem));
  $("history-empty").hidden = searching || hist.jobs.length > 0 || hist.pages === 0;
  const cursor = searching ? found.cursor : hist.cursor;
  let none = "";
  if (searching && found.searched && shown.length === 0) {
    none = `No job of yours matches “${found.q}”${filter ? " with that status" : ""}${cursor ? " among those searched so far: “Search older jobs” looks further back" : ""}.`;
  } else if (searching && !found.searched) {
    none = "Searching…";
  } else if (!searching && hist.jobs.length > 0 && shown.length === 0) {
    none = `None of the ${hist.jobs.length} jobs listed match.${hist.cursor ? " “Show older jobs” looks further back." : ""}`;
  }
  $("history-none").hidden = !none;
  $("history-none").textContent = none;
  $("history-more").hidden = !cursor || (searching && !found.searched);
  $("history-more").textContent = searching ? "Search older jobs" : "Show older jobs";
  markCurrentInHistory();
}

function updateHistoryItem(job) {
  const k = found.jobs.findIndex((j) => j.job_id === job.job_id);
  if (k >= 0) found.jobs[k] = { ...found.jobs[k], status: job.status };
  const i = hist.jobs.findIndex((j) => j.job_id === job.job_id);
  if (i >= 0) {
    const j = hist.jobs[i];
    if (j.status === job.status && j.model === job.model && j.lane === job.lane) return;
    hist.jobs[i] = { ...j, status: job.status, model: job.model || j.model, lane: job.lane ?? j.lane };
  } else if (job.created_at) {
    addToHistory(job);
    return;
  } else {
    return;
  }
  renderHistory();
}

function markCurrentInHistory() {
  for (const li of $("history-list").children) {
    const a = li.firstElementChild;
    if (li.dataset.jobId === currentCard()?.id) a.setAttribute("aria-current", "true");
    else a.removeAttribute("aria-current");
  }
}

boot();
