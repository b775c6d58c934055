// The site's configuration: config.json beside index.html, written by the
// stack at deploy time and by the dev runner locally. Only public values
// live there (ids and URLs); nothing in it is a secret.

// The API's limits when config.json does not say (internal/jobs); the
// model catalogue (internal/catalogue) gives each model its own output
// limit in config.json, which wins over MAX_TOKENS_LIMIT.
export const DEFAULT_MAX_PROMPT_CHARS = 100_000;
export const DEFAULT_MAX_TOKENS = 1024;
export const MAX_TOKENS_LIMIT = 8192;

// How people get an account (config.json "sign_up"): anyone, anyone with
// an address at one of "sign_up_domains", or only by an administrator.
export const SIGN_UP_MODES = Object.freeze(["open", "domains", "invite"]);

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
  const maxPrompt = Number.isInteger(raw.max_prompt_chars) && raw.max_prompt_chars > 0 ? raw.max_prompt_chars : DEFAULT_MAX_PROMPT_CHARS;
  return Object.freeze({
    region: raw.region,
    userPoolId: raw.user_pool_id,
    clientId: raw.client_id,
    apiUrl: raw.api_url.replace(/\/+$/, ""),
    cognitoEndpoint: raw.cognito_endpoint.endsWith("/") ? raw.cognito_endpoint : raw.cognito_endpoint + "/",
    passwordPolicy: Object.freeze(policy),
    models: parseModels(raw.models),
    defaultModel: typeof raw.default_model === "string" ? raw.default_model : "",
    maxPromptChars: maxPrompt,
    signUp: parseSignUp(raw.sign_up, raw.sign_up_domains),
    // Under make dev the local stand-in answers for every model listed,
    // at no cost.
    standIn: raw.stand_in === true,
  });
}

// parseModels accepts the model ids as strings, or the catalogue's objects
// (internal/catalogue's Entry: "id", "name", "max_output_tokens",
// "temperature", "efforts", "default_effort", "thinking_efforts",
// "input_price_per_mtok", "output_price_per_mtok", "long_context_above",
// "long_context_factor", "end_of_life", "end_of_life_at_earliest",
// "local"), each listed once. What a model's entry does not say is
// unknown: its name falls back to the id, its token limit and prices to
// null, and it is taken to accept a temperature and no effort (the API
// decides).
export function parseModels(list) {
  if (!Array.isArray(list)) return Object.freeze([]);
  const out = [];
  for (const m of list) {
    const id = typeof m === "string" ? m : isObject(m) && typeof m.id === "string" ? m.id : "";
    if (!id || out.some((o) => o.id === id)) continue;
    out.push(modelEntry(id, isObject(m) ? m : {}));
  }
  return Object.freeze(out);
}

function modelEntry(id, o) {
  const efforts = words(o.efforts);
  return Object.freeze({
    id,
    name: typeof o.name === "string" && o.name.trim() ? o.name.trim() : id,
    maxOutputTokens: positiveInt(o.max_output_tokens),
    temperature: o.temperature !== false,
    efforts,
    defaultEffort: efforts.includes(o.default_effort) ? o.default_effort : "",
    thinkingEfforts: words(o.thinking_efforts).filter((e) => efforts.includes(e)),
    inputPrice: price(o.input_price_per_mtok),
    outputPrice: price(o.output_price_per_mtok),
    longContextAbove: positiveInt(o.long_context_above),
    longContextFactor: typeof o.long_context_factor === "number" && o.long_context_factor > 1 ? o.long_context_factor : null,
    endOfLife: typeof o.end_of_life === "string" && /^\d{4}-\d{2}-\d{2}$/.test(o.end_of_life) ? o.end_of_life : "",
    endOfLifeAtEarliest: o.end_of_life_at_earliest === true,
    local: o.local === true,
  });
}

function words(v) {
  return Object.freeze(Array.isArray(v) ? v.filter((w) => typeof w === "string" && w) : []);
}

function positiveInt(v) {
  return Number.isInteger(v) && v > 0 ? v : null;
}

function price(v) {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : null;
}

// parseSignUp reads "sign_up" (absent means open) and, for "domains", the
// list of domains; anything else is an error that says what is allowed.
export function parseSignUp(mode, domains) {
  const m = mode == null || mode === "" ? "open" : mode;
  if (!SIGN_UP_MODES.includes(m)) {
    throw new ConfigError(`config.json sign_up is ${JSON.stringify(mode)}; it must be one of ${SIGN_UP_MODES.join(", ")}.`);
  }
  if (m !== "domains") return Object.freeze({ mode: m, domains: Object.freeze([]) });
  const list = Array.isArray(domains)
    ? [...new Set(domains.filter((d) => typeof d === "string").map((d) => d.trim().toLowerCase().replace(/^@/, "")).filter(Boolean))]
    : [];
  if (!list.length) throw new ConfigError('config.json sign_up is "domains" but sign_up_domains lists none.');
  return Object.freeze({ mode: m, domains: Object.freeze(list) });
}

// modelName is the display name of model id, or the id itself.
export function modelName(config, id) {
  return config.models.find((m) => m.id === id)?.name || id;
}

// modelFor is what the page knows of model id ("" for the default
// model): its entry in config.json, or an entry that knows only the id.
export function modelFor(config, id) {
  const want = id || config.defaultModel;
  return config.models.find((m) => m.id === want) || modelEntry(want, {});
}

// modelChoices are the model picker's choices: the default model first,
// listed once (its value "" sends no model, so the API's default
// applies), then the others in config.json's order.
export function modelChoices(config) {
  const def = config.models.find((m) => m.id === config.defaultModel);
  const first = def
    ? { value: "", model: def, isDefault: true }
    : { value: "", model: null, isDefault: true }; // the API's default, unnamed or not listed
  return [first, ...config.models.filter((m) => m !== def).map((m) => ({ value: m.id, model: m, isDefault: false }))];
}

// maxTokensFor is the largest max_tokens the form offers for model id (""
// for the default model): the model's own output limit when the catalogue
// gives one, else the API's.
export function maxTokensFor(config, id) {
  return modelFor(config, id).maxOutputTokens || MAX_TOKENS_LIMIT;
}

// emailDomainAllowed says whether email may sign up under config.signUp.
export function emailDomainAllowed(signUp, email) {
  if (signUp.mode === "open") return true;
  if (signUp.mode === "invite") return false;
  const domain = String(email).split("@").pop().trim().toLowerCase();
  return signUp.domains.includes(domain);
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
