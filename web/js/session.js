// The signed-in session. The access and id tokens live in this object
// only, never in web storage or cookies. The refresh token does too,
// unless the person asks to stay signed in on this device: then it is
// also kept in localStorage (Keeper), so a reload, a new tab or a link
// opens signed in, until they log out (which revokes it at Cognito) or it
// expires. README's "Web app" says what that risks, and why the page's
// Content-Security-Policy bounds it.

import { CognitoError } from "./cognito.js";

// KEPT_KEY is where Keeper keeps a lasting session.
export const KEPT_KEY = "promptq.session";

// Keeper keeps a lasting session in storage (localStorage): the refresh
// token and who it is for, never an access token. Storage that is off or
// full keeps nothing; the session then lasts as long as the tab.
export class Keeper {
  constructor(storage = globalThis.localStorage) {
    this.storage = storage;
  }

  load() {
    try {
      const v = JSON.parse(this.storage?.getItem(KEPT_KEY) || "null");
      return v && typeof v.refreshToken === "string" && v.refreshToken ? v : null;
    } catch {
      return null;
    }
  }

  save(v) {
    try {
      this.storage?.setItem(KEPT_KEY, JSON.stringify(v));
    } catch {
      // Storage off or full: the session lasts as long as the tab.
    }
  }

  clear() {
    try {
      this.storage?.removeItem(KEPT_KEY);
    } catch {
      // Nothing kept, then.
    }
  }
}

// Cognito's answers to a refresh token that will never work again.
const SESSION_OVER = ["NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException", "PasswordResetRequiredException"];

// SessionEndedError means the refresh token no longer works: the person
// has to log in again.
export class SessionEndedError extends Error {
  constructor() {
    super("Your session has ended. Log in again to continue.");
    this.name = "SessionEndedError";
  }
}

// claims decodes a JWT's payload. Nothing is verified here: the API
// verifies tokens; the page only reads their lifetime and subject.
export function claims(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = atob(part + "=".repeat((4 - (part.length % 4)) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
  } catch {
    return {};
  }
}

// Session emits "change" (signed in or out) and "ended" (the refresh
// token stopped working).
export class Session extends EventTarget {
  #cognito;
  #keeper;
  #lasting = false; // the refresh token is kept by #keeper
  #access = null;
  #refresh = null;
  #expiresAt = 0; // local clock, ms
  #refreshing = null;
  #now;

  constructor(cognito, { now = () => Date.now(), keeper = new Keeper() } = {}) {
    super();
    this.#cognito = cognito;
    this.#keeper = keeper;
    this.#now = now;
    this.user = null; // {sub, email}
  }

  get signedIn() {
    return this.#access !== null;
  }

  // lasting says whether the session is kept on this device.
  get lasting() {
    return this.#lasting;
  }

  // logIn throws NewPasswordRequired (cognito.js) for an account that must
  // replace its temporary password: setNewPassword then finishes it. With
  // keep, the session is kept on this device (Keeper); without, whatever
  // was kept there is forgotten.
  async logIn(email, password, { keep = false } = {}) {
    return this.#begin(await this.#cognito.logIn(email, password), email, keep);
  }

  async setNewPassword(challenge, newPassword, { keep = false } = {}) {
    return this.#begin(await this.#cognito.setNewPassword(challenge, newPassword), challenge.email, keep);
  }

  // resume carries on a session kept on this device: a new access token
  // from its refresh token. It returns the user, or null when none is kept
  // or the token no longer works (it was revoked, or expired: then it is
  // forgotten); it throws a CognitoError when Cognito cannot be reached,
  // keeping the token for the next try.
  async resume() {
    const kept = this.#keeper.load();
    if (!kept) return null;
    let t;
    try {
      t = await this.#cognito.refresh(kept.refreshToken);
    } catch (err) {
      if (err instanceof CognitoError && SESSION_OVER.includes(err.name)) {
        this.#keeper.clear();
        return null;
      }
      throw err;
    }
    return this.#begin(t, kept.email || "", true);
  }

  async #begin(t, email, keep) {
    this.#lasting = keep;
    this.#store(t);
    let profile = {};
    try {
      profile = await this.#cognito.getUser(t.accessToken);
    } catch {
      // The email in the header is a nicety; the id token has it too.
    }
    const id = claims(t.idToken || "");
    const access = claims(t.accessToken);
    this.user = { sub: access.sub || profile.sub || "", email: profile.email || id.email || email };
    if (keep) this.#keeper.save({ refreshToken: this.#refresh, email: this.user.email, sub: this.user.sub });
    else this.#keeper.clear();
    this.dispatchEvent(new Event("change"));
    return this.user;
  }

  #store(t) {
    const c = claims(t.accessToken);
    const received = this.#now();
    // The token's lifetime (exp - iat) counted from when it arrived on this
    // clock, so a browser clock that is off does not matter.
    const lifetime = c.exp && c.iat ? (c.exp - c.iat) * 1000 : 3600 * 1000;
    // Refresh a little early: a tenth of the lifetime, at most a minute.
    this.#expiresAt = received + lifetime - Math.min(60_000, lifetime / 10);
    this.#access = t.accessToken;
    if (t.refreshToken && t.refreshToken !== this.#refresh) {
      this.#refresh = t.refreshToken;
      // A rotated refresh token replaces the one kept.
      if (this.#lasting && this.user) this.#keeper.save({ refreshToken: t.refreshToken, email: this.user.email, sub: this.user.sub });
    }
  }

  // accessToken returns a token that should still be valid, refreshing
  // first when it is about to expire.
  async accessToken() {
    if (!this.#access) throw new SessionEndedError();
    if (this.#now() >= this.#expiresAt) await this.refresh();
    return this.#access;
  }

  // refresh gets a new access token with the refresh token. Concurrent
  // callers share one request. A refused refresh token ends the session;
  // a network failure does not (the caller reports it and may retry).
  refresh() {
    if (!this.#refresh) return Promise.reject(new SessionEndedError());
    if (!this.#refreshing) {
      const token = this.#refresh;
      this.#refreshing = this.#cognito.refresh(token)
        .then((t) => {
          if (this.#refresh === token) this.#store(t);
        })
        .catch((err) => {
          if (err instanceof CognitoError && SESSION_OVER.includes(err.name)) {
            this.end();
            throw new SessionEndedError();
          }
          throw err;
        })
        .finally(() => {
          this.#refreshing = null;
        });
    }
    return this.#refreshing;
  }

  // end forgets the tokens because they stopped working, keeping the user
  // so the page can tell whether the same person logs back in.
  end() {
    if (!this.#access && !this.#refresh) return;
    this.#access = null;
    this.#refresh = null;
    if (this.#lasting) this.#keeper.clear();
    this.#lasting = false;
    this.dispatchEvent(new Event("ended"));
  }

  // logOut forgets everything, on this device too, and revokes the refresh
  // token at Cognito (RevokeToken, best effort), which ends it for every
  // tab that holds it and the access tokens issued with it.
  async logOut() {
    const token = this.#refresh;
    this.#access = null;
    this.#refresh = null;
    if (this.#lasting) this.#keeper.clear();
    this.#lasting = false;
    this.user = null;
    this.dispatchEvent(new Event("change"));
    if (token) {
      try {
        await this.#cognito.revoke(token);
      } catch {
        // The tokens are gone from this page either way.
      }
    }
  }
}
