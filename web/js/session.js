// The signed-in session. Tokens live in this object only: never in
// localStorage, sessionStorage or cookies, so a reload signs out (as the
// design asks) and no other script on the origin finds them at rest.

import { CognitoError } from "./cognito.js";

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
  #access = null;
  #refresh = null;
  #expiresAt = 0; // local clock, ms
  #refreshing = null;
  #now;

  constructor(cognito, { now = () => Date.now() } = {}) {
    super();
    this.#cognito = cognito;
    this.#now = now;
    this.user = null; // {sub, email}
  }

  get signedIn() {
    return this.#access !== null;
  }

  // logIn throws NewPasswordRequired (cognito.js) for an account that must
  // replace its temporary password: setNewPassword then finishes it.
  async logIn(email, password) {
    return this.#begin(await this.#cognito.logIn(email, password), email);
  }

  async setNewPassword(challenge, newPassword) {
    return this.#begin(await this.#cognito.setNewPassword(challenge, newPassword), challenge.email);
  }

  async #begin(t, email) {
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
    if (t.refreshToken) this.#refresh = t.refreshToken;
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
    this.dispatchEvent(new Event("ended"));
  }

  // logOut revokes the refresh token (best effort) and forgets everything.
  async logOut() {
    const token = this.#refresh;
    this.#access = null;
    this.#refresh = null;
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
