// Answers as Markdown: the tree built from marked's tokens has only the
// listed tags and safe links, and every bit of markup in the text stays
// text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { markdownTree, safeHref, decodeEntities, TAGS } from "../../../web/js/markdown.js";

// walk yields every element node and every text of a tree.
function* walk(nodes) {
  for (const n of nodes) {
    if (typeof n === "string") {
      yield { text: n };
      continue;
    }
    yield n;
    yield* walk(n.kids || []);
  }
}
const tags = (tree) => [...walk(tree)].filter((n) => n.tag).map((n) => n.tag);
const text = (tree) => [...walk(tree)].filter((n) => "text" in n).map((n) => n.text).join("");

test("headings, lists, tables, code and emphasis become their elements", () => {
  const tree = markdownTree("# Title\n\nSome **bold** and *em* and `code`.\n\n- [x] done\n- two\n\n3. c\n4. d\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n```js\nlet x = 1 < 2;\n```\n\n> quoted\n\n---");
  assert.deepEqual(tags(tree), [
    "h3", "p", "strong", "em", "code", "ul", "li", "span", "span", "li", "span", "ol", "li", "span", "li", "span",
    "table", "thead", "tr", "th", "th", "tbody", "tr", "td", "td", "codeblock", "blockquote", "p", "hr",
  ]);
  const ol = [...walk(tree)].find((n) => n.tag === "ol");
  assert.equal(ol.attrs.start, "3");
  const th = [...walk(tree)].filter((n) => n.tag === "th").map((n) => n.attrs.class);
  assert.deepEqual(th, ["align-left", "align-right"]);
  const code = [...walk(tree)].find((n) => n.tag === "codeblock");
  assert.deepEqual(code, { tag: "codeblock", attrs: { lang: "js" }, kids: ["let x = 1 < 2;"] });
});

test("markup in an answer stays text, and only listed tags are made", () => {
  const payloads = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<div onclick=\"alert(1)\">hi</div>\n\nafter",
    "Inline <b onmouseover=alert(1)>bold</b> and <iframe src=javascript:alert(1)></iframe>",
    "[click](javascript:alert(1)) [data](data:text/html,<script>alert(1)</script>) [vb](vbscript:msgbox) [rel](/jobs)",
    "![x](javascript:alert(1)) ![y](https://example.com/y.png)",
    "[smuggled](<javascript:alert(1)>) [ent](jav&#x61;script:alert(1)) [sp]( javascript:alert(1))",
    "<a href=\"javascript:alert(1)\">a</a> &lt;script&gt;alert(1)&lt;/script&gt;",
    "```html\n<script>alert(1)</script>\n```",
    "<svg><script>alert(1)</script></svg>",
  ];
  for (const p of payloads) {
    const tree = markdownTree(p);
    for (const n of walk(tree)) {
      if (!n.tag) continue;
      assert.ok(n.tag in TAGS, `${p}: made <${n.tag}>`);
      for (const k of Object.keys(n.attrs || {})) assert.ok(TAGS[n.tag].includes(k), `${p}: <${n.tag} ${k}>`);
      if (n.attrs?.href) assert.match(n.attrs.href, /^(https?|mailto):/, `${p}: href ${n.attrs.href}`);
    }
  }
  // The markup is there to read, as text.
  assert.equal(text(markdownTree("<img src=x onerror=alert(1)>")), "<img src=x onerror=alert(1)>");
  assert.match(text(markdownTree("<script>alert(1)</script>")), /<script>alert\(1\)<\/script>/);
  assert.equal(text(markdownTree("[click](javascript:alert(1))")), "click (javascript:alert(1))");
  assert.equal(text(markdownTree("&lt;b&gt; &amp; &#x3C;i&#62;")), "<b> & <i>");
});

test("links go only to http, https and mailto; images are links, never loaded", () => {
  assert.equal(safeHref("https://example.com/a?b=1"), "https://example.com/a?b=1");
  assert.equal(safeHref("mailto:a@example.com"), "mailto:a@example.com");
  for (const bad of ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "vbscript:x", "/relative", "#job/1", "", "file:///etc/passwd"]) {
    assert.equal(safeHref(bad), "", bad);
  }
  const tree = markdownTree("![a cat](https://example.com/cat.png)");
  assert.deepEqual(tags(tree), ["p", "a"]);
  assert.equal(text(tree), "Image: a cat");
});

test("character references become characters, bad ones a replacement mark", () => {
  assert.equal(decodeEntities("&amp;&lt;&gt;&quot;&#39;&#x263A;&nosuch;&#0;"), "&<>\"'☺&nosuch;\ufffd");
});
