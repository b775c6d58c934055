// One test file's setup: a fresh dev stack, a browser, and helpers that
// open the app as new users. Each file under tests/ calls suite() once at
// its top level; node:test runs the files one after another.

import { before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { startDevStack } from "./devstack.js";
import { PoolAdmin } from "./cognito.js";
import { launch, openApp } from "./browser.js";
import { logIn, waitForWorkspace } from "./app.js";

export const PASSWORD = "Correct-Horse-9-battery";
const SHOTS = process.env.WEBTEST_SCREENSHOTS || "";

export function suite({ env = {} } = {}) {
  const t = {
    stack: null,
    admin: null,
    browser: null,
    opened: [],
    names: new Set(),

    // newEmail is a new address per user, so tests don't depend on each
    // other's accounts (each run has a fresh user pool).
    newEmail(name) {
      let n = name;
      for (let i = 2; t.names.has(n); i++) n = `${name}${i}`;
      t.names.add(n);
      return `${n}@example.com`;
    },

    async shot(page, name, opts = {}) {
      if (!SHOTS) return;
      fs.mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, `${name}.png`), ...opts });
    },

    async open(opts) {
      const app = await openApp(t.browser, t.stack.info, opts);
      t.opened.push(app);
      return app;
    },

    // loggedIn opens the app as a new confirmed user.
    async loggedIn(name, opts) {
      const email = t.newEmail(name);
      await t.admin.createUser(email, PASSWORD);
      const app = await t.open(opts);
      await logIn(app.page, email, PASSWORD);
      await waitForWorkspace(app.page);
      return { ...app, email };
    },

    // noPageErrors: every test ends with no uncaught errors and no
    // Content-Security-Policy violation on its pages.
    noPageErrors(...apps) {
      for (const app of apps) {
        assert.deepEqual(app.rec.errors, [], "errors on the page");
        assert.deepEqual(app.rec.csp, [], "Content-Security-Policy violations on the page");
      }
    },
  };

  before(async () => {
    t.stack = await startDevStack({ env, log: (m) => console.log(`# ${m}`) });
    t.admin = new PoolAdmin(t.stack.info, { runnerLog: t.stack.runnerLog });
    t.browser = await launch();
  });

  after(async () => {
    for (const app of t.opened) await app.context.close().catch(() => {});
    await t.browser?.close().catch(() => {});
    await t.stack?.stop();
  });

  return t;
}
