// Model answers as Markdown, built as DOM nodes, never as HTML.
//
// The text is split into tokens by marked's lexer (vendor/marked, pinned:
// see its VERSION file), and this module builds elements from those tokens
// with createElement and text nodes. No string is ever parsed as markup,
// so there is nothing to sanitize: HTML in an answer (or smuggled through
// Markdown) is shown as the text it is, links are kept only for http(s)
// and mailto, and images are links, never loaded. Only the tags and
// attributes listed below are ever created.
//
// markdownTree is pure (no DOM), so it is tested under Node; renderTree
// turns its result into nodes of a document.

import { Lexer } from "../vendor/marked/marked.esm.js";

// The only elements and attributes an answer can produce.
export const TAGS = Object.freeze({
  p: [], h3: [], h4: [], h5: [], h6: [], ul: [], ol: ["start"], li: [], blockquote: [], hr: [],
  table: [], thead: [], tbody: [], tr: [], th: ["class"], td: ["class"],
  strong: [], em: [], del: [], code: [], br: [], a: ["href"], span: ["class"],
  // A fenced or indented code block: rendered with a copy button.
  codeblock: ["lang"],
});

const DIR_AUTO = new Set(["p", "h3", "h4", "h5", "h6", "li", "blockquote", "th", "td"]);

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

// safeHref is href when it is an absolute http(s) or mailto URL, else "".
export function safeHref(href) {
  try {
    const u = new URL(String(href).trim());
    return SAFE_PROTOCOLS.has(u.protocol) ? u.href : "";
  } catch {
    return ""; // relative, or not a URL: nothing for a link to go to here
  }
}

const NAMED = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };

// decodeEntities turns the character references Markdown text may carry
// into characters (the lexer leaves them as written).
export function decodeEntities(s) {
  return s.replace(/&(#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);/g, (m, ref) => {
    if (ref[0] !== "#") return NAMED[ref] ?? m;
    const n = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return n > 0 && n <= 0x10ffff && !(n >= 0xd800 && n <= 0xdfff) ? String.fromCodePoint(n) : "\ufffd";
  });
}

const el = (tag, kids = [], attrs = {}) => ({ tag, attrs, kids });

// markdownTree parses src into nodes: strings (text) or {tag, attrs, kids}.
export function markdownTree(src) {
  return blocks(Lexer.lex(String(src || ""), { gfm: true, breaks: false }));
}

function blocks(tokens) {
  const out = [];
  for (const t of tokens || []) {
    const n = block(t);
    if (n) out.push(n);
  }
  return out;
}

function block(t) {
  switch (t.type) {
    case "space":
    case "def":
      return null;
    case "heading":
      // The page's own headings are h1 and h2: an answer's start at h3.
      return el(`h${Math.min(6, (t.depth || 1) + 2)}`, inline(t.tokens));
    case "paragraph":
      return el("p", inline(t.tokens));
    case "text":
      // Text directly in a tight list item.
      return t.tokens ? el("span", inline(t.tokens)) : el("span", [decodeEntities(t.text || "")]);
    case "code":
      return el("codeblock", [t.text || ""], t.lang ? { lang: String(t.lang).split(/\s/)[0].slice(0, 30) } : {});
    case "blockquote":
      return el("blockquote", blocks(t.tokens));
    case "hr":
      return el("hr");
    case "list": {
      const attrs = t.ordered && Number.isInteger(Number(t.start)) && Number(t.start) !== 1 ? { start: String(Number(t.start)) } : {};
      return el(t.ordered ? "ol" : "ul", (t.items || []).map(listItem), attrs);
    }
    case "table": {
      const cell = (tag, c, align) => el(tag, inline(c.tokens), align ? { class: `align-${align}` } : {});
      const head = el("tr", (t.header || []).map((c, i) => cell("th", c, t.align?.[i])));
      const rows = (t.rows || []).map((r) => el("tr", r.map((c, i) => cell("td", c, t.align?.[i]))));
      return el("table", [el("thead", [head]), el("tbody", rows)]);
    }
    case "html":
      // Shown as the text it is, in its own paragraph.
      return el("p", [el("span", [t.text || t.raw || ""], { class: "raw" })]);
    default:
      if (t.tokens) return el("p", inline(t.tokens));
      return t.raw ? el("p", [t.raw]) : null;
  }
}

function listItem(item) {
  const kids = [];
  for (const t of item.tokens || []) {
    if (t.type === "checkbox") {
      kids.push(el("span", [t.checked ? "☑ " : "☐ "], { class: "task" }));
      continue;
    }
    const n = block(t);
    if (n) kids.push(n);
  }
  return el("li", kids);
}

function inline(tokens) {
  const out = [];
  for (const t of tokens || []) {
    switch (t.type) {
      case "text":
        if (t.tokens) out.push(...inline(t.tokens));
        else out.push(decodeEntities(t.text || ""));
        break;
      case "escape":
        out.push(t.text || "");
        break;
      case "strong":
      case "em":
      case "del":
        out.push(el(t.type, inline(t.tokens)));
        break;
      case "codespan":
        out.push(el("code", [decodeEntities(t.text || "")]));
        break;
      case "br":
        out.push(el("br"));
        break;
      case "link": {
        const href = safeHref(t.href);
        if (href) out.push(el("a", inline(t.tokens), { href }));
        // A link to somewhere this page will not send anyone: its text,
        // and where it pointed, as plain text.
        else out.push(...inline(t.tokens), ` (${t.href})`);
        break;
      }
      case "image": {
        // Never loaded: a link to it, named by its alt text.
        const href = safeHref(t.href);
        const label = `Image: ${t.text || href || t.href}`;
        out.push(href ? el("a", [label], { href }) : `[${label}]`);
        break;
      }
      case "html":
      case "tag":
        out.push(el("span", [t.text || t.raw || ""], { class: "raw" }));
        break;
      default:
        if (t.tokens) out.push(...inline(t.tokens));
        else out.push(t.raw || t.text || "");
    }
  }
  return out;
}

// renderTree builds the nodes of tree in doc, as a fragment. Elements and
// attributes outside TAGS are dropped (their text kept), whatever the tree
// says. A code block is a figure with its language, a copy button
// (data-copy="code", handled by the page) and the code.
export function renderTree(tree, doc = globalThis.document) {
  const frag = doc.createDocumentFragment();
  for (const n of tree) frag.append(node(n, doc));
  return frag;
}

function node(n, doc) {
  if (typeof n === "string") return doc.createTextNode(n);
  const allowed = TAGS[n.tag];
  if (!allowed) {
    const f = doc.createDocumentFragment();
    for (const k of n.kids || []) f.append(node(k, doc));
    return f;
  }
  if (n.tag === "codeblock") return codeBlock(n, doc);
  const e = doc.createElement(n.tag);
  // Each block follows the direction of its own text.
  if (DIR_AUTO.has(n.tag)) e.dir = "auto";
  for (const [k, v] of Object.entries(n.attrs || {})) {
    if (!allowed.includes(k)) continue;
    if (k === "href") {
      const href = safeHref(v);
      if (!href) continue;
      e.setAttribute("href", href);
      e.setAttribute("rel", "noopener noreferrer nofollow");
      e.setAttribute("target", "_blank");
    } else {
      e.setAttribute(k, String(v));
    }
  }
  for (const k of n.kids || []) e.append(node(k, doc));
  return e;
}

function codeBlock(n, doc) {
  const fig = doc.createElement("div");
  fig.className = "codeblock";
  const head = doc.createElement("div");
  head.className = "codeblock-head";
  const lang = doc.createElement("span");
  lang.className = "lang";
  lang.textContent = n.attrs?.lang || "code";
  const copy = doc.createElement("button");
  copy.type = "button";
  copy.className = "secondary small";
  copy.dataset.copy = "code";
  copy.textContent = "Copy code";
  head.append(lang, copy);
  const pre = doc.createElement("pre");
  const code = doc.createElement("code");
  code.textContent = (n.kids || []).join("");
  pre.append(code);
  fig.append(head, pre);
  return fig;
}
