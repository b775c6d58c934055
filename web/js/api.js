// The promptq API client (docs/openapi.yaml). Every call carries the
// session's access token; a 401 is taken as an expired or revoked token:
// the session refreshes once and the call is repeated, and if that fails
// too the session is over.

import { CognitoError } from "./cognito.js";
import { SessionEndedError } from "./session.js";

export const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

// ApiError is a failed call with words for people in `message`.
// status is 0 for network failures. retryAfter is in seconds, or null.
export class ApiError extends Error {
  constructor({ status, code, message, field = "", retryAfter = null, requestId = "" }) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
    this.requestId = requestId;
  }

  // transient says whether trying the same call later may work.
  get transient() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export class Api {
  constructor({ baseUrl, session, fetchFn = (...a) => fetch(...a) }) {
    this.baseUrl = baseUrl;
    this.session = session;
    this.fetch = fetchFn;
  }

  // generate submits a prompt. The idempotency key makes a retry after a
  // lost answer return the same job instead of a second one.
  async generate(body, idempotencyKey) {
    const headers = idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {};
    const { data } = await this.request("POST", "/generate", { body, headers });
    return data;
  }

  // getJob returns the job and the API's Retry-After hint in seconds (null
  // once the job is terminal).
  async getJob(id, { signal } = {}) {
    const { data, retryAfter } = await this.request("GET", `/jobs/${encodeURIComponent(id)}`, { signal });
    return { job: data, retryAfter };
  }

  // listJobs is a page of the caller's jobs, newest first; with search,
  // of those whose prompts or answers hold every word of it (GET
  // /jobs?q=, which searches the whole history on the server).
  async listJobs({ limit = 20, cursor = "", search = "" } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set("cursor", cursor);
    if (search) q.set("q", search);
    const { data } = await this.request("GET", `/jobs?${q}`);
    return { jobs: data.jobs || [], nextCursor: data.next_cursor || "" };
  }

  // usage is the caller's day (GET /usage): tokens charged by model and
  // still reserved, the budget and what is left, jobs against the cap.
  async usage() {
    const { data } = await this.request("GET", "/usage");
    return data;
  }

  async cancel(id) {
    const { data } = await this.request("POST", `/jobs/${encodeURIComponent(id)}/cancel`);
    return data;
  }

  async request(method, path, { body, headers = {}, signal } = {}) {
    for (let attempt = 0; ; attempt++) {
      let token;
      try {
        token = await this.session.accessToken();
      } catch (err) {
        throw fromAuthError(err);
      }
      let res;
      try {
        res = await this.fetch(this.baseUrl + path, {
          method,
          signal,
          headers: {
            Authorization: `Bearer ${token}`,
            ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
            ...headers,
          },
          body: body !== undefined ? JSON.stringify(body) : undefined,
        });
      } catch (err) {
        if (err?.name === "AbortError") throw err;
        throw new ApiError({ status: 0, code: "network", message: "Can't reach promptq. Check your connection; the page will keep trying." });
      }
      if (res.status === 401) {
        if (attempt === 0) {
          // Expired or revoked: get a new access token and try once more.
          try {
            await this.session.refresh();
          } catch (err) {
            throw fromAuthError(err);
          }
          continue;
        }
        this.session.end();
        throw new SessionEndedError();
      }
      const retryAfter = parseRetryAfter(res.headers.get("Retry-After"));
      const text = await res.text().catch(() => "");
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch {
        data = null;
      }
      if (res.ok) return { data, retryAfter };
      throw describe(res.status, data, retryAfter, res.headers.get("X-Request-Id") || "");
    }
  }
}

function fromAuthError(err) {
  if (err instanceof CognitoError) {
    // The session was fine but the sign-in service could not be reached.
    return new ApiError({ status: 0, code: "network", message: err.message });
  }
  return err;
}

// parseRetryAfter reads delay-seconds or an HTTP date, in seconds.
export function parseRetryAfter(v) {
  if (v == null || v === "") return null;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, Math.ceil((t - Date.now()) / 1000));
}

function seconds(n) {
  return n === 1 ? "1 second" : `${n} seconds`;
}

// describe turns an error answer into words. The API's messages are
// written for people ({"error":{"code","message","field"}}); API Gateway's
// own answers ({"message": "..."}) are not, so those get ours.
export function describe(status, data, retryAfter, requestId = "") {
  const e = (data && data.error) || {};
  const code = e.code || `http_${status}`;
  const serverMsg = typeof e.message === "string" ? e.message : "";
  const field = e.field || "";
  const rid = e.request_id || requestId;
  const later = retryAfter != null ? ` Try again in ${seconds(retryAfter)}.` : " Try again in a moment.";
  let message;
  switch (true) {
    case status === 400 || status === 409:
      message = serverMsg || "promptq refused this request.";
      break;
    case status === 404:
      message = "No such job: it does not exist, or it belongs to another account.";
      break;
    case status === 413:
      message = "This is too large to send: shorten the prompt.";
      break;
    case status === 429: {
      // The API names the limit; its own "try again in a few seconds" gives
      // way to the exact wait from Retry-After.
      const why = retryAfter != null ? serverMsg.replace(/[;,.]\s*try again[^.;]*\.?$/i, "") : serverMsg;
      message = `Too many requests${why ? `: ${why.replace(/\.$/, "")}` : ""}.${later}`;
      break;
    }
    case status === 503:
      message = `promptq is busy for a moment and did not accept this.${later}`;
      break;
    case status === 500:
      message = `Something went wrong on promptq's side.${rid ? ` If it keeps happening, quote request id ${rid}.` : later}`;
      break;
    case status >= 500:
      message = `promptq's API is not answering right now (HTTP ${status}).${later}`;
      break;
    default:
      message = serverMsg || `promptq answered HTTP ${status}.`;
  }
  return new ApiError({ status, code, message, field, retryAfter, requestId: rid });
}
