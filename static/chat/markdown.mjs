/* Replies as Markdown: marked parses, highlight.js colours code, DOMPurify sanitizes, and the
 * sanitized HTML is the one HTML write of the page (renderMarkdown).
 *
 * Model text is never trusted. Raw HTML in it is shown as text (never parsed); images become
 * links (no request leaves the page on its own); DOMPurify then removes anything executable
 * (scripts, event handlers, javascript: and data: links) and links open in a new tab with
 * rel="noopener noreferrer". Libraries are vendored by scripts/vendor_js.sh. */

import DOMPurify from "../vendor/dompurify/purify.es.mjs";
import hljs from "../vendor/highlight/core.min.js";
import bash from "../vendor/highlight/languages/bash.min.js";
import css from "../vendor/highlight/languages/css.min.js";
import diff from "../vendor/highlight/languages/diff.min.js";
import javascript from "../vendor/highlight/languages/javascript.min.js";
import json from "../vendor/highlight/languages/json.min.js";
import markdown from "../vendor/highlight/languages/markdown.min.js";
import python from "../vendor/highlight/languages/python.min.js";
import shell from "../vendor/highlight/languages/shell.min.js";
import sql from "../vendor/highlight/languages/sql.min.js";
import typescript from "../vendor/highlight/languages/typescript.min.js";
import xml from "../vendor/highlight/languages/xml.min.js";
import yaml from "../vendor/highlight/languages/yaml.min.js";
import { Marked } from "../vendor/marked/marked.esm.js";
import { h, icon } from "./dom.mjs";

const LANGUAGES = { bash, css, diff, javascript, json, markdown, python, shell, sql, typescript, xml, yaml };
for (const [name, grammar] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, grammar);
hljs.configure({ ignoreUnescapedHTML: true });

const escapeHtml = (text) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    // Raw HTML in a reply is text, never markup.
    html: ({ text }) => escapeHtml(text),
    // No request on its own: an image is a link to it.
    image: ({ href, text }) => `<a href="${escapeHtml(href || "")}">${escapeHtml(text || href || "image")}</a>`,
    code({ text, lang }) {
      const language = (lang || "").trim().split(/\s+/)[0].toLowerCase();
      const known = language && hljs.getLanguage(language);
      const body = known ? hljs.highlight(text, { language, ignoreIllegals: true }).value : escapeHtml(text);
      const label = escapeHtml(known ? language : language || "code");
      return `<div class="code-block" data-language="${label}"><pre><code class="hljs">${body}</code></pre></div>`;
    },
  },
});

const ALLOWED_TAGS = [
  "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
  "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
  "input",
];
const PURIFY = {
  ALLOWED_TAGS,
  ALLOWED_ATTR: ["href", "title", "class", "data-language", "align", "start", "type", "checked", "disabled"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
};

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
  // Task-list checkboxes only; any other input goes.
  if (node.tagName === "INPUT" && node.getAttribute("type") !== "checkbox") node.remove();
  else if (node.tagName === "INPUT") node.setAttribute("disabled", "");
});

/** The sanitized HTML for Markdown `text` (exported for tests). */
export function sanitizedHtml(text) {
  return DOMPurify.sanitize(marked.parse(text), PURIFY).trim();
}

const BLOCK_PARENTS = new Set(["UL", "OL", "TABLE", "THEAD", "TBODY", "TR", "BLOCKQUOTE", "DIV"]);

/** Render Markdown `text` into `el` (its children are replaced), with copy buttons on code. */
export function renderMarkdown(el, text) {
  el.innerHTML = sanitizedHtml(text); // html-ok: DOMPurify-sanitized
  // marked puts a newline between blocks: as text it would count in textContent and show
  // under white-space: pre-wrap.
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  const gaps = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentNode;
    if (!node.data.trim() && (parent === el || BLOCK_PARENTS.has(parent.nodeName))) gaps.push(node);
  }
  for (const node of gaps) node.remove();
  for (const block of el.querySelectorAll(".code-block")) {
    const code = block.querySelector("code");
    block.prepend(
      h(
        "div",
        { class: "code-block__bar" },
        h("span", { text: block.dataset.language }),
        copyButton(() => code.textContent, "Copy code"),
      ),
    );
  }
}

/** A small "Copy" button; `text()` is read when it is pressed. */
export function copyButton(text, label = "Copy") {
  const name = h("span", { text: "Copy" });
  const button = h("button", { type: "button", class: "copy-button", "aria-label": label, title: label }, icon("copy"), name);
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text());
      name.textContent = "Copied";
    } catch (err) {
      name.textContent = "Couldn't copy";
    }
    setTimeout(() => {
      name.textContent = "Copy";
    }, 1500);
  });
  return button;
}
