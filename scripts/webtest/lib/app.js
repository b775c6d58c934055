// Steps through the web app the way a person does: by labels, roles and
// visible text. Each helper waits for what a person would wait for.

import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";

// eventually retries fn until it stops throwing or the time is up.
export async function eventually(fn, { timeoutMs = 15_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(intervalMs);
    }
  }
}

export const textOf = async (locator) => ((await locator.textContent()) || "").trim();

export function form(page, name) {
  return page.getByRole("form", { name });
}

export async function signUp(page, email, password) {
  await page.getByRole("button", { name: "Create an account" }).click();
  const f = form(page, "Create an account");
  await f.getByRole("textbox", { name: "Email" }).fill(email);
  await f.getByLabel("Password", { exact: true }).fill(password);
  await f.getByRole("button", { name: "Create account" }).click();
  await form(page, "Confirm your email").waitFor();
}

export async function confirm(page, code) {
  const f = form(page, "Confirm your email");
  await f.getByRole("textbox", { name: "Code" }).fill(code);
  await f.getByRole("button", { name: "Confirm" }).click();
}

export async function logIn(page, email, password) {
  const f = form(page, "Log in");
  await f.getByRole("textbox", { name: "Email" }).fill(email);
  await f.getByLabel("Password").fill(password);
  await f.getByRole("button", { name: "Log in" }).click();
}

export async function waitForWorkspace(page) {
  await page.getByRole("heading", { name: "New prompt" }).waitFor();
}

// openSettings unfolds the prompt's settings (folded on a phone).
export async function openSettings(page) {
  const settings = page.locator("#settings");
  if ((await settings.count()) && !(await settings.evaluate((d) => d.open))) await settings.locator("summary").click();
}

export async function submitPrompt(page, prompt, { maxTokens, temperature } = {}) {
  await page.getByRole("textbox", { name: "Prompt" }).fill(prompt);
  if (maxTokens != null || temperature != null) await openSettings(page);
  if (maxTokens != null) await page.getByRole("spinbutton", { name: "Max tokens" }).fill(String(maxTokens));
  if (temperature != null) await page.getByRole("spinbutton", { name: "Temperature" }).fill(String(temperature));
  const before = page.url();
  await page.getByRole("button", { name: "Generate" }).click();
  await eventually(async () => {
    assert.match(page.url(), /#job\/[0-9a-f-]{36}$/);
    assert.notEqual(page.url(), before);
  });
  return page.url().split("#job/")[1];
}

export const jobView = (page) => page.getByRole("region", { name: /^Job / });

export async function jobStatus(page) {
  return textOf(page.locator(".job[data-current] .job-status"));
}

export async function waitForStatus(page, status, timeoutMs = 30_000) {
  await eventually(async () => assert.equal(await jobStatus(page), status), { timeoutMs });
}

// jobText is the job's text exactly as the model wrote it (the plain view,
// which the page keeps up to date whichever view is shown).
export async function jobText(page) {
  return (await page.locator(".job[data-current] .job-plain").textContent()) || "";
}

export async function stat(page, name) {
  return textOf(page.locator(".job[data-current] .job-stats div").filter({ has: page.getByText(name, { exact: true }) }).locator("dd"));
}

export async function historyIds(page) {
  return page.locator("#history-list li").evaluateAll((lis) => lis.map((li) => li.dataset.jobId));
}

// announcements collects what the polite live region says, from now on.
export async function watchAnnouncements(page) {
  await page.evaluate(() => {
    window.__said = [];
    const el = document.getElementById("announcer");
    new MutationObserver(() => {
      if (el.textContent) window.__said.push(el.textContent);
    }).observe(el, { childList: true, characterData: true, subtree: true });
  });
  return () => page.evaluate(() => window.__said.slice());
}
