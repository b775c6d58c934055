// What tests need from the dev stack's user pool, through cognito-local's
// API (the same JSON protocol the page speaks) and its log of sign-up codes.

import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

function read(file) {
  try {
    return file ? fs.readFileSync(file, "utf8") : "";
  } catch {
    return "";
  }
}

export class PoolAdmin {
  // info is the dev stack's dev.json; runnerLog, the runner's console.
  constructor(info, { runnerLog = "" } = {}) {
    this.info = info;
    this.runnerLog = runnerLog;
    this.endpoint = info.cognito_endpoint.replace(/\/?$/, "/");
  }

  async call(action, body) {
    const res = await fetch(this.endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": `AWSCognitoIdentityProviderService.${action}` },
      body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`${action}: HTTP ${res.status} ${JSON.stringify(data)}`);
    return data;
  }

  // codes lists the confirmation codes sent, oldest first, as
  // {destination, code}: the dev runner's console lines ("promptq dev:
  // sign-up code for a@example.com: 518327"), else cognito-local's log.
  codes() {
    const console = read(this.runnerLog);
    const lines = [...console.matchAll(/sign-up code for (\S+): (\S+)/g)].map((m) => ({ destination: m[1], code: m[2] }));
    if (lines.length) return lines;
    let text = read(this.info.cognito_log);
    // eslint-disable-next-line no-control-regex
    text = text.replace(/\u001b\[[0-9;]*m/g, "");
    const out = [];
    for (const block of text.split("Confirmation Code Delivery").slice(1)) {
      const dest = /Destination:\s*(\S+)/.exec(block);
      const code = /Code:\s*(\S+)/.exec(block);
      if (dest && code) out.push({ destination: dest[1], code: code[1] });
    }
    return out;
  }

  // codeFor waits for a code sent to email beyond the first `after` ones
  // and returns the newest. cognito-local's log sometimes holds a message
  // back until its next one, so the code it stored with the user (what it
  // "emailed") is read too.
  async codeFor(email, { after = 0, timeoutMs = 10_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const mine = this.codes().filter((c) => c.destination.toLowerCase() === email.toLowerCase());
      if (mine.length > after) return mine[mine.length - 1].code;
      const stored = this.#user(email)?.ConfirmationCode;
      if (after === 0 && stored) return stored;
      if (Date.now() > deadline) throw new Error(`no confirmation code for ${email} in ${this.info.cognito_log}`);
      await sleep(100);
    }
  }

  // #user reads a user's record from cognito-local's data files.
  #user(email) {
    const files = [];
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === `${this.info.user_pool_id}.json`) files.push(p);
      }
    };
    walk(this.info.data_dir);
    for (const f of files) {
      let db;
      try {
        db = JSON.parse(fs.readFileSync(f, "utf8"));
      } catch {
        continue; // being written
      }
      for (const u of Object.values(db.Users || {})) {
        const mail = (u.Attributes || []).find((a) => a.Name === "email")?.Value;
        if (mail && mail.toLowerCase() === email.toLowerCase()) return u;
      }
    }
    return null;
  }

  // consoleCodeFor waits for the dev runner's console line of a code sent
  // to email beyond the first `after` ones: what a person running make dev
  // reads, with no other source to fall back on.
  async consoleCodeFor(email, { after = 0, timeoutMs = 20_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const mine = [...read(this.runnerLog).matchAll(/sign-up code for (\S+): (\S+)/g)]
        .filter((m) => m[1].toLowerCase() === email.toLowerCase());
      if (mine.length > after) return mine[mine.length - 1][2];
      if (Date.now() > deadline) throw new Error(`no sign-up code line for ${email} in the dev runner's console (${this.runnerLog}) after ${timeoutMs / 1000} s`);
      await sleep(100);
    }
  }

  // resetCodeFor waits for the dev runner's console line of a password
  // reset's code sent to email beyond the first `after` ones ("promptq
  // dev: password reset code for a@example.com: 518327").
  async resetCodeFor(email, { after = 0, timeoutMs = 20_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const mine = [...read(this.runnerLog).matchAll(/password reset code for (\S+): (\S+)/g)]
        .filter((m) => m[1].toLowerCase() === email.toLowerCase());
      if (mine.length > after) return mine[mine.length - 1][2];
      if (Date.now() > deadline) throw new Error(`no password reset code line for ${email} in the dev runner's console (${this.runnerLog}) after ${timeoutMs / 1000} s`);
      await sleep(100);
    }
  }

  codeCount(email) {
    return this.codes().filter((c) => c.destination.toLowerCase() === email.toLowerCase()).length;
  }

  // createUser signs a user up and confirms them with the emailed code, as
  // the page would, without a browser.
  async createUser(email, password) {
    const before = this.codeCount(email);
    await this.call("SignUp", {
      ClientId: this.info.client_id,
      Username: email,
      Password: password,
      UserAttributes: [{ Name: "email", Value: email }],
    });
    const code = await this.codeFor(email, { after: before });
    await this.call("ConfirmSignUp", { ClientId: this.info.client_id, Username: email, ConfirmationCode: code });
  }

  // invite creates a user the way an operator does under
  // promptq:signUp=invite (aws cognito-idp admin-create-user): with a
  // temporary password to replace at the first log-in.
  async invite(email, temporaryPassword) {
    await this.call("AdminCreateUser", {
      UserPoolId: this.info.user_pool_id,
      Username: email,
      TemporaryPassword: temporaryPassword,
      DesiredDeliveryMediums: ["EMAIL"],
      UserAttributes: [{ Name: "email", Value: email }, { Name: "email_verified", Value: "true" }],
    });
  }

  async logIn(email, password) {
    const out = await this.call("InitiateAuth", {
      ClientId: this.info.client_id,
      AuthFlow: "USER_PASSWORD_AUTH",
      AuthParameters: { USERNAME: email, PASSWORD: password },
    });
    return out.AuthenticationResult;
  }

  // setAccessTokenLifetime changes the app client's access-token lifetime
  // (cognito-local honours seconds); it applies to tokens issued after.
  async setAccessTokenLifetime(seconds) {
    const { UserPoolClient: c } = await this.call("DescribeUserPoolClient", {
      UserPoolId: this.info.user_pool_id,
      ClientId: this.info.client_id,
    });
    await this.call("UpdateUserPoolClient", {
      UserPoolId: c.UserPoolId,
      ClientId: c.ClientId,
      ClientName: c.ClientName,
      ExplicitAuthFlows: c.ExplicitAuthFlows,
      AccessTokenValidity: seconds,
      IdTokenValidity: c.IdTokenValidity,
      RefreshTokenValidity: c.RefreshTokenValidity,
      TokenValidityUnits: { ...(c.TokenValidityUnits || {}), AccessToken: "seconds" },
    });
    return c; // the settings before, to restore
  }

  async restoreClient(c) {
    await this.call("UpdateUserPoolClient", {
      UserPoolId: c.UserPoolId,
      ClientId: c.ClientId,
      ClientName: c.ClientName,
      ExplicitAuthFlows: c.ExplicitAuthFlows,
      AccessTokenValidity: c.AccessTokenValidity,
      IdTokenValidity: c.IdTokenValidity,
      RefreshTokenValidity: c.RefreshTokenValidity,
      TokenValidityUnits: c.TokenValidityUnits,
    });
  }

  // refreshTokensOf reads a user's live refresh tokens from cognito-local's
  // data files: what "signed out elsewhere" would revoke.
  refreshTokensOf(email) {
    return [...(this.#user(email)?.RefreshTokens || [])];
  }

  revoke(refreshToken) {
    return this.call("RevokeToken", { ClientId: this.info.client_id, Token: refreshToken });
  }
}

// claims decodes a JWT's payload (no verification: for assertions only).
export function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}
