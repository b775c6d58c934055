// Debian's Chromium, driven by playwright-core (never a downloaded browser).

import fs from "node:fs";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.WEBTEST_CHROMIUM || "/usr/bin/chromium";

// The flags this machine kind needs: no sandbox as root, and no background
// connections to Google that a closed network refuses.
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launch() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (make web-tools does: apt-get install -y chromium)`);
  }
  // Playwright gives the browser a new, empty profile dir of its own and
  // removes it on close.
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 60_000 });
}

// openApp opens the web app in a fresh context (its own storage, so users
// don't share anything) and records every request the page makes to the
// API and to Cognito (whatever its endpoint: calls are known by their
// X-Amz-Target), every page error and every Content-Security-Policy
// violation Chromium reports. setup(context) runs before the page loads
// (to route config.json, say).
export async function openApp(browser, info, { viewport = { width: 1280, height: 860 }, setup = null, colorScheme = "light" } = {}) {
  const context = await browser.newContext({ viewport, locale: "en-GB", timezoneId: "UTC", colorScheme });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: info.web_url });
  if (setup) await setup(context);
  // Every violation the page's policy reports (Trusted Types' ones too,
  // which Chromium does not always log) reaches the console below.
  await context.addInitScript(() => {
    window.addEventListener("securitypolicyviolation", (e) => {
      console.error(`Content Security Policy violation: ${e.effectiveDirective} (${e.blockedURI || "inline"}) ${e.sample || ""}`);
    });
  });
  const page = await context.newPage();
  const rec = { api: [], cognito: [], errors: [], csp: [] };
  const api = info.api_url.replace(/\/$/, "");
  page.on("request", (req) => {
    const url = req.url();
    if (req.method() === "OPTIONS") return;
    if (url.startsWith(api + "/")) {
      const entry = { method: req.method(), path: url.slice(api.length), at: Date.now(), auth: req.headers().authorization || "", status: null, headers: {} };
      rec.api.push(entry);
      req.response().then((res) => {
        if (res) {
          entry.status = res.status();
          entry.headers = res.headers();
        }
      }, () => {});
    } else if ((req.headers()["x-amz-target"] || "").startsWith("AWSCognitoIdentityProviderService.")) {
      const target = req.headers()["x-amz-target"].split(".").pop();
      let flow = "";
      try {
        flow = JSON.parse(req.postData() || "{}").AuthFlow || "";
      } catch {}
      const entry = { target, flow, at: Date.now(), status: null };
      rec.cognito.push(entry);
      req.response().then((res) => {
        if (res) entry.status = res.status();
      }, () => {});
    }
  });
  page.on("pageerror", (err) => rec.errors.push(String(err)));
  page.on("console", (msg) => {
    if (/Content Security Policy/i.test(msg.text())) rec.csp.push(msg.text());
  });
  await page.goto(info.web_url);
  await page.waitForSelector("body[data-ready=true]");
  return { context, page, rec };
}
