// A session that lasts (issue 32, item 8), at 1280x800 and 390x844: with
// "Keep me signed in on this device" a reload, a new tab and a job's link
// open signed in; log out revokes the refresh token at Cognito and signs
// every tab out; without it nothing is kept; a forgotten password is reset
// with the code Cognito emails (the dev console prints it).

import { test } from "node:test";
import assert from "node:assert/strict";

import { suite, PASSWORD } from "../lib/suite.js";
import { eventually, textOf, form, logIn, waitForWorkspace, submitPrompt, waitForStatus } from "../lib/app.js";

const t = suite();

const SIZES = [{ width: 1280, height: 800 }, { width: 390, height: 844 }];

const stored = (page) => page.evaluate(() => ({ local: { ...localStorage }, session: { ...sessionStorage } }));

test("kept on this device: a reload, a new tab and a link open signed in; log out revokes it and signs every tab out", async () => {
  for (const viewport of SIZES) {
    const email = t.newEmail("keeper");
    await t.admin.createUser(email, PASSWORD);
    const app = await t.open({ viewport });
    const { page, context, rec } = app;
    const f = form(page, "Log in");
    await f.getByRole("textbox", { name: "Email" }).fill(email);
    await f.getByLabel("Password").fill(PASSWORD);
    await f.getByRole("checkbox", { name: "Keep me signed in on this device" }).check();
    if (viewport.width > 500) await t.shot(page, "keep-signed-in");
    await f.getByRole("button", { name: "Log in" }).click();
    await waitForWorkspace(page);
    const id = await submitPrompt(page, "Still here after a reload.", { maxTokens: 5 });
    await waitForStatus(page, "Succeeded", 60_000);

    // Only the refresh token is kept, in localStorage; never an access token.
    const kept = JSON.parse((await stored(page)).local["promptq.session"]);
    assert.equal(kept.email, email);
    const access = rec.api.at(-1).auth.slice(7);
    assert.ok(!JSON.stringify(await stored(page)).includes(access), "no access token in web storage");

    // A reload opens signed in, on the job of the link.
    const logins = () => rec.cognito.filter((c) => c.flow === "USER_PASSWORD_AUTH").length;
    const before = logins();
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    await waitForWorkspace(page);
    assert.equal(logins(), before, "no password asked for");
    await eventually(async () => assert.equal(await textOf(page.locator(".job[data-current] .job-prompt")), "Still here after a reload."));
    assert.ok(rec.cognito.some((c) => c.flow === "REFRESH_TOKEN_AUTH" && c.status === 200));

    // A new tab, opened at the job's link, too.
    const tab = await context.newPage();
    const tabErrors = [];
    tab.on("pageerror", (e) => tabErrors.push(String(e)));
    await tab.goto(`${t.stack.info.web_url}#job/${id}`);
    await tab.waitForSelector("body[data-ready=true]");
    await waitForWorkspace(tab);
    await eventually(async () => assert.equal(await textOf(tab.locator(".job[data-current] .job-status")), "Succeeded"));

    // Log out: revoked at Cognito, forgotten here, and the other tab
    // signed out.
    const token = kept.refreshToken;
    await page.getByRole("button", { name: "Log out" }).click();
    await form(page, "Log in").waitFor();
    await eventually(() => assert.ok(rec.cognito.some((c) => c.target === "RevokeToken" && c.status === 200)));
    assert.equal((await stored(page)).local["promptq.session"], undefined);
    await assert.rejects(t.admin.call("InitiateAuth", { ClientId: t.stack.info.client_id, AuthFlow: "REFRESH_TOKEN_AUTH", AuthParameters: { REFRESH_TOKEN: token } }),
      /NotAuthorized|HTTP 400/, "the refresh token no longer works");
    await form(tab, "Log in").waitFor();
    assert.match(await textOf(tab.locator("#auth-notice")), /session has ended/);
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    await form(page, "Log in").waitFor();
    assert.deepEqual(tabErrors, []);
    t.noPageErrors(app);
  }
});

test("not kept: a reload asks to log in again, and nothing is kept", async () => {
  for (const viewport of SIZES) {
    const app = await t.loggedIn("passing", { viewport });
    const { page } = app;
    const s = await stored(page);
    assert.equal(s.local["promptq.session"], undefined);
    assert.ok(!JSON.stringify(s).includes("refreshToken"), "no refresh token in web storage");
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    await form(page, "Log in").waitFor();
    assert.match(await textOf(page.locator("#auth-notice")), /Keep me signed in on this device/);
    t.noPageErrors(app);
  }
});

test("a forgotten password is reset with the emailed code, then the page logs in with it", async () => {
  for (const viewport of SIZES) {
    const email = t.newEmail("forgetful");
    await t.admin.createUser(email, PASSWORD);
    const app = await t.open({ viewport });
    const { page, rec } = app;
    await page.getByRole("button", { name: "Forgot your password?" }).click();
    const f = form(page, "Reset your password");
    await f.getByRole("textbox", { name: "Email" }).fill(email);
    await f.getByRole("button", { name: "Send the code" }).click();
    const r = form(page, "Set a new password");
    await r.waitFor();
    assert.match(await textOf(page.locator("#reset-intro")), new RegExp(`If an account has the address ${email.replace(".", "\\.")}, we emailed it a code`));
    const code = await t.admin.resetCodeFor(email);

    // A wrong code and a weak password are refused in words.
    const fresh = "Another-Horse-7-battery";
    await r.getByRole("textbox", { name: "Code" }).fill("000000");
    await r.getByLabel("New password", { exact: true }).fill("weak");
    await r.getByLabel("Confirm new password").fill("weak");
    await r.getByRole("button", { name: "Set password and log in" }).click();
    await eventually(async () => assert.match(await textOf(page.locator("#reset-error")), /^The password still needs:/));
    assert.ok(!rec.cognito.some((c) => c.target === "ConfirmForgotPassword"), "a weak password is not sent");
    await r.getByLabel("New password", { exact: true }).fill(fresh);
    await r.getByLabel("Confirm new password").fill(fresh);
    await r.getByRole("button", { name: "Set password and log in" }).click();
    await eventually(async () => assert.match(await textOf(page.locator("#reset-error")), /code is not right/));
    if (viewport.width < 500) await t.shot(page, "reset-password-phone");

    await r.getByRole("textbox", { name: "Code" }).fill(code);
    await r.getByRole("button", { name: "Set password and log in" }).click();
    await waitForWorkspace(page);
    assert.equal(await textOf(page.locator("#user-email")), email);
    // The old password is refused, the new one works.
    await assert.rejects(t.admin.logIn(email, PASSWORD));
    assert.ok(await t.admin.logIn(email, fresh));
    await page.getByRole("button", { name: "Log out" }).click();
    await logIn(page, email, fresh);
    await waitForWorkspace(page);
    t.noPageErrors(app);
  }
});
