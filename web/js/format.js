// Words and numbers as the page shows them. Pure functions, tested under
// Node.

// formatDuration: "740 ms", "1.3 s", "2 min 5 s", "1 h 31 min". Each is
// rounded to what it shows before it is split into units, so 119.8 s is
// "2 min 0 s" (not "1 min 60 s") and 59.96 s "1 min 0 s" (not "60.0 s").
export function formatDuration(ms) {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return "";
  if (Math.round(ms) < 1000) return `${Math.round(ms)} ms`;
  const tenths = Math.round(ms / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  const min = Math.round(s / 60);
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

// formatElapsed is a running clock: "4 s", "1 min 05 s".
export function formatElapsed(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

// formatWhen is a date and time in the reader's locale and time zone: the
// year only when it is not this one.
export function formatWhen(iso, { now = new Date(), locale = undefined } = {}) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const opts = { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  if (d.getFullYear() !== now.getFullYear()) opts.year = "numeric";
  return d.toLocaleString(locale, opts);
}

// titleOf is a job's title: the first words of its prompt, on one line,
// cut at a word boundary near max characters.
export function titleOf(prompt, max = 60) {
  const line = String(prompt || "").replace(/\s+/g, " ").trim();
  if (!line) return "(empty prompt)";
  const chars = [...line];
  if (chars.length <= max) return line;
  const cut = chars.slice(0, max).join("");
  if (chars[max] === " ") return `${cut.replace(/[\s,.;:!?-]+$/, "")}…`; // cut at a word's end
  const space = cut.lastIndexOf(" ");
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,.;:!?-]+$/, "")}…`;
}

// sentence ends s as a sentence: a full stop unless it already ends in
// one, a "!", a "?" or an ellipsis ("First job." stays, never "First
// job..").
export function sentence(s) {
  const t = String(s || "").trimEnd();
  return /[.!?…]$/.test(t) ? t : `${t}.`;
}

// countChars counts characters as the API does: code points, not UTF-16
// units (an emoji is one).
export function countChars(s) {
  let n = 0;
  for (const _ of String(s)) n++; // eslint-disable-line no-unused-vars
  return n;
}

// formatNumber groups digits: 100,000.
export function formatNumber(n, locale = "en") {
  return Number(n).toLocaleString(locale);
}

// formatUSD is an estimated cost in dollars: cents for a dollar or more,
// down to a hundredth of a cent below ("$0.013"), "under $0.0001" for
// less, "$0.00" for nothing.
export function formatUSD(d) {
  if (d == null || !Number.isFinite(d) || d < 0) return "–";
  if (d === 0) return "$0.00";
  if (d < 0.0001) return "under $0.0001";
  return d.toLocaleString("en", {
    style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: d < 1 ? 4 : 2,
  });
}

// lowerFirst lowers a sentence's first letter only: "An uppercase letter
// (A–Z)" inside a sentence.
export function lowerFirst(s) {
  return s ? s[0].toLowerCase() + s.slice(1) : s;
}

// billingText warns about an economy job in a run: Amazon Bedrock
// processes, and bills, every record of a run, so cancelling it there may
// still cost what the run does for it (the API's economy.charge_pending).
export function billingText(job) {
  const e = job.economy;
  if (!e || e.state !== "in_run") return "";
  if (e.charge_pending) {
    return "Cancelled inside its economy run: Amazon Bedrock may still process this prompt. What it processes is charged to your budget when the run ends; until then the job keeps its reservation.";
  }
  if (job.status === "running") {
    return "In an economy run: cancelling it now may still be billed for what the run processes of it.";
  }
  return "";
}

// formatDay is a calendar date ("2027-10-07") as the reader writes it: "7
// Oct 2027".
export function formatDay(ymd, locale = undefined) {
  const d = new Date(`${ymd}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleDateString(locale, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
}

// modelFacts says what choosing a model means (web/js/config.js's model
// entries): its prices per million input and output tokens (and the
// prompt size above which they rise), the most it writes, its end of life
// where known, and whether it takes a temperature. Under make dev
// (standIn) the local stand-in answers whatever the model, at $0, and the
// list prices are only what Amazon Bedrock would charge.
export function modelFacts(m, { standIn = false, locale = undefined } = {}) {
  const facts = [];
  const priced = m.inputPrice != null && m.outputPrice != null;
  const list = priced ? `${formatUSD(m.inputPrice)} in / ${formatUSD(m.outputPrice)} out per million tokens` : "";
  if (m.local) {
    facts.push("$0: the local stand-in, no model is called");
  } else if (standIn) {
    facts.push(`$0 here: answered by the local stand-in${priced ? ` (on Amazon Bedrock ${list})` : ""}`);
  } else if (priced) {
    const band = m.longContextAbove && m.longContextFactor ? ` (${m.longContextFactor}× for a prompt over ${formatNumber(m.longContextAbove)} tokens)` : "";
    facts.push(list + band);
  }
  if (m.maxOutputTokens) facts.push(`writes up to ${formatNumber(m.maxOutputTokens)} tokens`);
  if (m.endOfLife) facts.push(`end of life ${m.endOfLifeAtEarliest ? "not before " : ""}${formatDay(m.endOfLife, locale)}`);
  if (!m.temperature) facts.push("no temperature");
  return facts.join(" · ");
}

// effortNote says which of a model's effort levels let it think first:
// thinking tokens are billed as output and count against max tokens.
export function effortNote(m) {
  if (!m.efforts.length) return "";
  const t = m.thinkingEfforts;
  if (!t.length) return "The model does not think first at any of these levels.";
  const billed = "thinking is billed as output tokens and counts against max tokens";
  if (t.length === m.efforts.length) return `The model thinks first at every level: ${billed}.`;
  const which = t.length === 1 ? t[0] : `${t.slice(0, -1).join(", ")} and ${t.at(-1)}`;
  return `At ${which} the model thinks first: ${billed}.`;
}

// thinkingOf is whether model m thinks first at effort e ("" for its
// default): "adaptive", "off", or "" for a model without effort levels
// (as GET /jobs/{id} says it).
export function thinkingOf(m, e) {
  if (!m.efforts.length) return "";
  return m.thinkingEfforts.includes(e || m.defaultEffort) ? "adaptive" : "off";
}

// chargedText is what a job was charged (GET /jobs/{id}'s charged): its
// tokens as the daily budget counts them and their estimated cost, "so
// far" while the charge may still grow (a job cancelled while it ran,
// whose worker charges the call it stopped).
export function chargedText(c) {
  const tokens = `${formatNumber(c.tokens)} ${c.tokens === 1 ? "token" : "tokens"}`;
  const cost = c.estimated_cost_usd != null ? ` · ${formatUSD(c.estimated_cost_usd)}` : "";
  return `${tokens}${cost}${c.pending ? " so far" : ""}`;
}

// inAbout says when a time to come is, from now: "in about 8 s", "in
// about 3 min", or "any moment now" once it has passed.
export function inAbout(untilMs, nowMs) {
  const s = Math.round((untilMs - nowMs) / 1000);
  if (!Number.isFinite(s) || s <= 0) return "any moment now";
  if (s < 90) return `in about ${s} s`;
  return `in about ${Math.round(s / 60)} min`;
}

// waitText says why a job waits and what comes next, from what the API
// says (GET /jobs/{id}'s waiting and economy), as of nowMs on the API's
// clock; "" when it says nothing (a job waiting for its first worker).
export function waitText(job, nowMs) {
  const e = job.economy;
  if (e && job.status === "queued" && e.state === "waiting") {
    return "Waiting for the economy run: it is gathered with other prompts into a run of Amazon Bedrock's batch inference, at a lower price, typically within hours.";
  }
  if (e && job.status === "running" && e.state === "in_run") {
    return `In an economy run: ${formatNumber(e.records_done)} of ${formatNumber(e.records_total)} prompts done.`;
  }
  const w = job.waiting;
  if (!w || job.status !== "queued") return "";
  const when = inAbout(Date.parse(w.until), nowMs);
  switch (w.reason) {
    case "retry": {
      const why = w.error ? `: ${w.error.replace(/\.$/, "")}` : "";
      return `Retrying: try ${w.attempt} of ${w.max_attempts} failed${why}. The next try starts ${when}.`;
    }
    case "fair_share":
      return `Waiting for capacity: your other jobs already use your fair share of the lane, so this one starts as they end. Next look ${when}.`;
    case "pace":
      return `Waiting for capacity: the model's tokens-per-minute pace has no room for it yet. Next look ${when}.`;
    case "throttled":
      return `Waiting for capacity: the model turned the call away for its quota (a throttle, not a failed try). Next try ${when}.`;
    case "busy":
      return `Waiting for capacity: every call the model allows at once is in use, so this one starts as one ends. Next look ${when}.`;
    case "continuing":
      return `The answer so far is kept and goes on in another worker run, ${when}.`;
    default:
      return `Waiting (${w.reason}). Next look ${when}.`;
  }
}
