// config.json parsing and the password rules shown at sign-up.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parseConfig, passwordRules, ConfigError, DEFAULT_PASSWORD_POLICY, modelName, maxTokensFor, emailDomainAllowed,
} from "../../../web/js/config.js";

const base = {
  region: "eu-west-1",
  user_pool_id: "eu-west-1_abc",
  client_id: "client",
  api_url: "https://api.example.com/prod/",
  cognito_endpoint: "https://cognito-idp.eu-west-1.amazonaws.com",
};

test("config.json's fields are read, URLs normalised, optional fields defaulted", () => {
  const c = parseConfig(base);
  assert.equal(c.apiUrl, "https://api.example.com/prod");
  assert.equal(c.cognitoEndpoint, "https://cognito-idp.eu-west-1.amazonaws.com/");
  assert.deepEqual({ ...c.passwordPolicy }, { ...DEFAULT_PASSWORD_POLICY });
  assert.deepEqual([...c.models], []);
  assert.equal(c.maxPromptChars, 100_000);
  assert.equal(c.defaultModel, "");
  assert.deepEqual({ ...c.signUp, domains: [...c.signUp.domains] }, { mode: "open", domains: [] });
});

test("a missing field is named", () => {
  const { client_id, ...rest } = base;
  assert.throws(() => parseConfig(rest), (e) => e instanceof ConfigError && /client_id/.test(e.message));
});

test("password_policy and models in config.json are used", () => {
  const c = parseConfig({ ...base, password_policy: { min_length: 8, require_symbols: false }, models: ["m1", "", 3, "m2"] });
  assert.equal(c.passwordPolicy.min_length, 8);
  assert.deepEqual(c.models.map((m) => m.id), ["m1", "m2"]);
  assert.equal(modelName(c, "m1"), "m1");
  assert.deepEqual(passwordRules(c.passwordPolicy).map((r) => r.id), ["length", "lower", "upper", "digit"]);
});

test("the default rules are the stack's pool policy", () => {
  const rules = passwordRules(DEFAULT_PASSWORD_POLICY);
  const failing = (p) => rules.filter((r) => !r.test(p)).map((r) => r.id);
  assert.deepEqual(failing("short"), ["length", "upper", "digit", "symbol"]);
  assert.deepEqual(failing("Correct-horse-9"), []);
  assert.deepEqual(failing("correct-horse-9"), ["upper"]);
  assert.deepEqual(failing("CorrectHorse99"), ["symbol"]);
});

test("models may be ids or the catalogue's objects; names and output limits are used, ids are the fallback", () => {
  const c = parseConfig({
    ...base,
    default_model: "h",
    models: ["plain", { id: "h", name: "Claude Haiku 4.5", max_output_tokens: 64000 }, { id: "n" }, { name: "no id" }, { id: "h" }, null],
  });
  assert.deepEqual(c.models.map((m) => [m.id, m.name, m.maxOutputTokens]), [
    ["plain", "plain", null], ["h", "Claude Haiku 4.5", 64000], ["n", "n", null],
  ]);
  assert.equal(modelName(c, "h"), "Claude Haiku 4.5");
  assert.equal(modelName(c, "unknown"), "unknown");
  assert.equal(maxTokensFor(c, "h"), 64000);
  assert.equal(maxTokensFor(c, ""), 64000, "the default model's limit");
  assert.equal(maxTokensFor(c, "plain"), 8192, "the API's limit when the catalogue gives none");
});

test("sign_up: absent is open; domains need a list; anything else is named as wrong", () => {
  const d = parseConfig({ ...base, sign_up: "domains", sign_up_domains: ["Example.com", "@corp.example", "", 3] }).signUp;
  assert.deepEqual([...d.domains], ["example.com", "corp.example"]);
  assert.equal(emailDomainAllowed(d, "a@EXAMPLE.com"), true);
  assert.equal(emailDomainAllowed(d, "a@example.com.evil"), false);
  assert.equal(emailDomainAllowed(d, "a@sub.example.com"), false);
  assert.equal(parseConfig({ ...base, sign_up: "invite" }).signUp.mode, "invite");
  assert.throws(() => parseConfig({ ...base, sign_up: "domains" }), (e) => e instanceof ConfigError && /sign_up_domains/.test(e.message));
  assert.throws(() => parseConfig({ ...base, sign_up: "closed" }), (e) => e instanceof ConfigError && /open, domains, invite/.test(e.message));
});

test("max_prompt_chars is used when it is a positive whole number", () => {
  assert.equal(parseConfig({ ...base, max_prompt_chars: 500 }).maxPromptChars, 500);
  assert.equal(parseConfig({ ...base, max_prompt_chars: "500" }).maxPromptChars, 100_000);
});
