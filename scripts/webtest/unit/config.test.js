// config.json parsing and the password rules shown at sign-up.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig, passwordRules, ConfigError, DEFAULT_PASSWORD_POLICY } from "../../../web/js/config.js";

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
});

test("a missing field is named", () => {
  const { client_id, ...rest } = base;
  assert.throws(() => parseConfig(rest), (e) => e instanceof ConfigError && /client_id/.test(e.message));
});

test("password_policy and models in config.json are used", () => {
  const c = parseConfig({ ...base, password_policy: { min_length: 8, require_symbols: false }, models: ["m1", "", 3, "m2"] });
  assert.equal(c.passwordPolicy.min_length, 8);
  assert.deepEqual([...c.models], ["m1", "m2"]);
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
