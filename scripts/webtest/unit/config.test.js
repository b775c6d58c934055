// config.json parsing and the password rules shown at sign-up.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parseConfig, passwordRules, ConfigError, DEFAULT_PASSWORD_POLICY, modelName, modelFor, modelChoices, maxTokensFor, emailDomainAllowed,
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

// Two entries as internal/catalogue's Entries writes them.
const haiku55 = {
  id: "us.anthropic.claude-haiku-5-5", name: "Claude Haiku 5.5", max_output_tokens: 128000, context_window: 1000000,
  continuation: "user_turn", temperature: false, efforts: ["low", "medium", "high", "xhigh", "max"], default_effort: "medium",
  thinking_efforts: ["xhigh", "max"], input_price_per_mtok: 0.1, output_price_per_mtok: 0.5, long_context_above: 100000,
  long_context_factor: 5, end_of_life: "2027-10-07", end_of_life_at_earliest: true, lifecycle: "active",
};
const haiku45 = {
  id: "us.anthropic.claude-haiku-4-5-20251001-v1:0", name: "Claude Haiku 4.5", max_output_tokens: 64000,
  temperature: true, input_price_per_mtok: 1, output_price_per_mtok: 5, lifecycle: "active",
};

test("a model's entry says what it accepts and costs; what it does not say is unknown", () => {
  const c = parseConfig({ ...base, models: [haiku55, haiku45, "bare"], stand_in: true });
  const [h5, h4, bare] = c.models;
  assert.equal(h5.temperature, false);
  assert.deepEqual([...h5.efforts], ["low", "medium", "high", "xhigh", "max"]);
  assert.equal(h5.defaultEffort, "medium");
  assert.deepEqual([...h5.thinkingEfforts], ["xhigh", "max"]);
  assert.deepEqual([h5.inputPrice, h5.outputPrice, h5.longContextAbove, h5.longContextFactor], [0.1, 0.5, 100000, 5]);
  assert.deepEqual([h5.endOfLife, h5.endOfLifeAtEarliest, h5.local], ["2027-10-07", true, false]);
  assert.equal(h4.temperature, true);
  assert.deepEqual([...h4.efforts], []);
  assert.equal(h4.endOfLife, "");
  // A bare id: it may take a temperature, takes no effort, has no price.
  assert.deepEqual([bare.temperature, bare.efforts.length, bare.inputPrice, bare.maxOutputTokens], [true, 0, null, null]);
  assert.equal(c.standIn, true);
  assert.equal(parseConfig(base).standIn, false);
  // A default effort the model does not list, and thinking levels it
  // does not take, are dropped.
  const odd = parseConfig({ ...base, models: [{ ...haiku55, default_effort: "huge", thinking_efforts: ["max", "huge"] }] }).models[0];
  assert.equal(odd.defaultEffort, "");
  assert.deepEqual([...odd.thinkingEfforts], ["max"]);
});

test("the model choices list the default first and once; its value sends no model", () => {
  const c = parseConfig({ ...base, default_model: haiku55.id, models: [haiku45, haiku55] });
  assert.deepEqual(modelChoices(c).map((x) => [x.value, x.model.name, x.isDefault]), [
    ["", "Claude Haiku 5.5", true], [haiku45.id, "Claude Haiku 4.5", false],
  ]);
  assert.equal(modelFor(c, "").id, haiku55.id, "the default model");
  assert.equal(modelFor(c, haiku45.id).name, "Claude Haiku 4.5");
  assert.equal(maxTokensFor(c, ""), 128000);
  // A default model config.json does not list is still the first choice.
  const unlisted = parseConfig({ ...base, default_model: "elsewhere", models: [haiku45] });
  assert.deepEqual(modelChoices(unlisted).map((x) => [x.value, x.model?.id ?? null]), [["", null], [haiku45.id, haiku45.id]]);
  assert.equal(modelFor(unlisted, "").id, "elsewhere");
  assert.equal(modelFor(unlisted, "").temperature, true);
});
