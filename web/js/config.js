// The site's configuration: config.json beside index.html, written by the
// stack at deploy time and by the dev runner locally. Only public values
// live there (ids and URLs); nothing in it is a secret.

// The password rules shown at sign-up when config.json has no
// "password_policy": the stack's user pool policy (stack/promptqstack).
export const DEFAULT_PASSWORD_POLICY = Object.freeze({
  min_length: 12,
  require_lowercase: true,
  require_uppercase: true,
  require_digits: true,
  require_symbols: true,
});

// Cognito's own list of the characters that count as symbols.
const SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-";

export class ConfigError extends Error {}

// loadConfig fetches and checks config.json. It throws a ConfigError whose
// message can be shown as is.
export async function loadConfig(url = "config.json") {
  let res;
  try {
    res = await fetch(url, { cache: "no-store" });
  } catch {
    throw new ConfigError("Could not load the site's configuration. Check your connection and reload the page.");
  }
  if (!res.ok) {
    throw new ConfigError(`This site is not configured yet (config.json answered ${res.status}).`);
  }
  let raw;
  try {
    raw = await res.json();
  } catch {
    throw new ConfigError("The site's configuration (config.json) is not valid JSON.");
  }
  return parseConfig(raw);
}

// parseConfig validates the fields and fills the optional ones.
export function parseConfig(raw) {
  if (!raw || typeof raw !== "object") throw new ConfigError("config.json must be a JSON object.");
  const missing = ["region", "user_pool_id", "client_id", "api_url", "cognito_endpoint"]
    .filter((k) => typeof raw[k] !== "string" || raw[k].trim() === "");
  if (missing.length) throw new ConfigError(`config.json lacks ${missing.join(", ")}.`);
  const policy = { ...DEFAULT_PASSWORD_POLICY, ...(isObject(raw.password_policy) ? raw.password_policy : {}) };
  const models = Array.isArray(raw.models) ? raw.models.filter((m) => typeof m === "string" && m !== "") : [];
  return Object.freeze({
    region: raw.region,
    userPoolId: raw.user_pool_id,
    clientId: raw.client_id,
    apiUrl: raw.api_url.replace(/\/+$/, ""),
    cognitoEndpoint: raw.cognito_endpoint.endsWith("/") ? raw.cognito_endpoint : raw.cognito_endpoint + "/",
    passwordPolicy: Object.freeze(policy),
    models: Object.freeze(models),
  });
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

// passwordRules lists the policy's rules, each with a test, in the order
// they are shown.
export function passwordRules(policy) {
  const rules = [];
  const n = Number(policy.min_length) || 8;
  rules.push({ id: "length", text: `At least ${n} characters`, test: (p) => [...p].length >= n });
  if (policy.require_lowercase) rules.push({ id: "lower", text: "A lowercase letter (a–z)", test: (p) => /[a-z]/.test(p) });
  if (policy.require_uppercase) rules.push({ id: "upper", text: "An uppercase letter (A–Z)", test: (p) => /[A-Z]/.test(p) });
  if (policy.require_digits) rules.push({ id: "digit", text: "A digit (0–9)", test: (p) => /[0-9]/.test(p) });
  if (policy.require_symbols) {
    rules.push({ id: "symbol", text: "A symbol, such as ! @ # $ % & * ? -", test: (p) => [...p].some((c) => SYMBOLS.includes(c)) });
  }
  return rules;
}
