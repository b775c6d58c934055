// Starts the real dev stack (scripts/dev: the API, the worker with the local
// model, kumo for DynamoDB and SQS, cognito-local, and web/ with
// /config.json) in a temporary PROMPTQ_DEV_DIR on free ports, for one test
// run, and stops it and every process it started afterwards.

import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../../..");

// The API's per-user submission limit in the test stack: low enough that a
// test can reach it for real (a 429 with Retry-After), high enough for
// every other test's user.
export const SUBMISSIONS_PER_MINUTE = 25;

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// startDevStack builds and starts the dev runner and resolves once it has
// printed its ready line and written dev.json. WEBTEST_DEV_CMD (a command
// line) replaces the runner, e.g. to try the tests against something else.
export async function startDevStack({ env = {}, timeoutMs = 300_000, log = () => {} } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "promptq-webtest-"));
  let cmd;
  let args;
  if (process.env.WEBTEST_DEV_CMD) {
    [cmd, ...args] = process.env.WEBTEST_DEV_CMD.split(/\s+/);
  } else {
    // Build first, so the start timeout doesn't include compiling and the
    // signal reaches the runner itself, not `go run`.
    cmd = path.join(dir, "promptq-dev");
    args = [];
    log(`building scripts/dev into ${cmd}`);
    execFileSync("go", ["build", "-o", cmd, "./scripts/dev"], { cwd: REPO_ROOT, stdio: ["ignore", "inherit", "inherit"] });
  }
  const ports = {
    PROMPTQ_DEV_WEB_PORT: await freePort(),
    PROMPTQ_DEV_API_PORT: await freePort(),
    PROMPTQ_DEV_AWS_PORT: await freePort(),
    PROMPTQ_DEV_COGNITO_PORT: await freePort(),
  };
  const outPath = path.join(dir, "runner.log");
  const out = fs.openSync(outPath, "a");
  const child = spawn(cmd, args, {
    cwd: REPO_ROOT,
    detached: true, // its own process group, so stop() reaches everything under it
    stdio: ["ignore", out, out],
    env: {
      ...process.env,
      PROMPTQ_DEV_DIR: dir,
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      PROMPTQ_LIMIT_SUBMISSIONS_PER_MINUTE: String(SUBMISSIONS_PER_MINUTE),
      ...env,
    },
  });
  fs.closeSync(out);
  let exited = null;
  child.on("exit", (code, signal) => {
    exited = { code, signal };
  });

  const stack = {
    dir,
    runnerLog: outPath,
    child,
    info: null,
    async stop() {
      const pids = Object.values(stack.info?.processes || {}).filter((p) => Number.isInteger(p) && p > 0);
      if (exited === null) {
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {}
        for (let i = 0; i < 100 && exited === null; i++) await sleep(100);
        if (exited === null) {
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {}
        }
      }
      // The runner's children lead their own process groups; if it could
      // not stop them, do it here (they are ours: listed in our dev.json).
      for (const pid of pids) {
        if (alive(pid)) {
          try {
            process.kill(-pid, "SIGKILL");
          } catch {}
        }
      }
      if (!process.env.WEBTEST_KEEP_DIR) fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + timeoutMs;
  const devJson = path.join(dir, "dev.json");
  for (;;) {
    const text = fs.readFileSync(outPath, "utf8");
    if (/\bready\b/i.test(text) && fs.existsSync(devJson)) {
      try {
        stack.info = JSON.parse(fs.readFileSync(devJson, "utf8"));
        break;
      } catch {
        // Being written: read again.
      }
    }
    if (exited !== null) {
      await stack.stop();
      throw new Error(`the dev stack exited (${JSON.stringify(exited)}) before it was ready:\n${text.slice(-4000)}`);
    }
    if (Date.now() > deadline) {
      await stack.stop();
      throw new Error(`the dev stack was not ready after ${timeoutMs / 1000} s:\n${text.slice(-4000)}`);
    }
    await sleep(200);
  }
  log(`dev stack ready: web ${stack.info.web_url}, api ${stack.info.api_url}`);
  return stack;
}
