/* The review console: the queue, one item, its actions, live updates over /ws/console/.
 * Text only ever reaches the page through textContent (dom.mjs's h): held replies are model
 * output and may contain markup, which must stay inert. */

import { createConnection } from "../chat/connection.mjs";
import { h } from "../chat/dom.mjs";
import * as api from "./api.mjs";
import { ago, clock, duration, highlightPieces, percent, reasonLabel, slaState } from "./format.mjs";

const root = document.getElementById("console");
const me = root.dataset.user;
const $ = (id) => document.getElementById(id);
const OPEN = new Set(["pending", "claimed"]);
const REFRESH_DEBOUNCE_MS = 120;

const state = {
  status: "open",
  check: "",
  pattern: "",
  q: "",
  page: 1,
  rows: [],
  pages: 1,
  count: 0,
  stats: null,
  skewMs: 0, // server clock minus this browser's
  current: null, // id of the open item
  item: null, // its detail
  selected: new Set(),
  editing: false,
  lapseRendered: null, // which claim's lapse the item view already shows
};

const serverNow = () => Date.now() + state.skewMs;
const learnClock = (iso) => {
  if (iso) state.skewMs = Date.parse(iso) - Date.now();
};

// --- Messages to the agent -------------------------------------------------------------------

let toastTimer = null;
function toast(text, kind = "error") {
  const el = $("toast");
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), kind === "error" ? 8000 : 4000);
}

function explain(err) {
  if (err instanceof api.ApiError) {
    if (err.status === 401) return "Your session has ended. Sign in again to keep reviewing.";
    if (err.code === "claimed" || err.code === "already_decided" || err.code === "expired")
      return `Another agent was faster. ${err.detail}`;
    return err.detail;
  }
  return "Something went wrong. Try again.";
}

// --- Queue -------------------------------------------------------------------------------------

let rowsRequest = 0;
async function loadRows() {
  const { status, check, pattern, q, page } = state;
  const request = ++rowsRequest;
  let data;
  try {
    data = await api.fetchRows({ status, check, pattern, q, page });
  } catch (err) {
    if (request === rowsRequest) toast(explain(err));
    return;
  }
  if (request !== rowsRequest) return; // a newer request (other filters) is on its way
  learnClock(data.now);
  Object.assign(state, { rows: data.results, pages: data.pages, count: data.count, page: data.page, stats: data.stats });
  const ids = new Set(state.rows.map((r) => r.id));
  for (const id of state.selected) if (!ids.has(id)) state.selected.delete(id);
  renderRows();
  renderStats();
}

function chip(text, status) {
  return h("span", { class: "chip", "data-status": status }, h("span", { text }));
}

function reasonChips(reasons) {
  return reasons.map((r) => h("span", { class: "reason-chip", "data-check": r.check, text: reasonLabel(r) }));
}

function rowStatus(row) {
  if (row.status === "decided" || row.status === "expired") {
    const who = row.decided_by || "system";
    const took = row.decided_in_s == null ? "" : ` · in ${duration(row.decided_in_s)}`;
    return h("span", { class: "row__claim", text: `${row.decision} by ${who}${took}` });
  }
  if (row.claimed_by) {
    const mine = row.claimed_by === me;
    return h("span", { class: "row__claim", "data-mine": mine ? "true" : "false", text: mine ? "Claimed by you" : `Claimed by ${row.claimed_by}` });
  }
  return h("span", { class: "row__claim row__claim--free", text: "Unclaimed" });
}

function renderRows() {
  const list = $("rows");
  list.replaceChildren(
    ...state.rows.map((row) => {
      const decided = !OPEN.has(row.status);
      const select = h("input", {
        type: "checkbox",
        class: "row__select",
        "aria-label": `Select item ${row.id} for bulk decisions`,
        disabled: decided,
        onchange: (event) => {
          if (event.target.checked) state.selected.add(row.id);
          else state.selected.delete(row.id);
          renderBulk();
        },
      });
      select.checked = state.selected.has(row.id);
      const when = h("time", { class: "row__when", datetime: row.created_at, "data-ago": row.created_at, text: ago(row.created_at, serverNow()) });
      const sla = decided
        ? chip(row.decision || row.status, row.decision === "rejected" ? "failed" : "reviewed")
        : h("span", { class: "sla", "data-sla": row.id });
      const open = h(
        "button",
        { type: "button", class: "row__open", onclick: () => openItem(row.id) },
        h("span", { class: "row__top" }, h("span", { class: "row__user", text: row.user }), when, sla),
        h("span", { class: "row__excerpt", text: row.excerpt }),
        h("span", { class: "row__meta" }, ...reasonChips(row.reasons), rowStatus(row)),
      );
      return h(
        "li",
        {
          class: "row",
          "data-id": row.id,
          "data-status": row.status,
          "data-severity": row.severity,
          "aria-current": row.id === state.current ? "true" : null,
        },
        select,
        open,
      );
    }),
  );
  $("rows-empty").hidden = state.rows.length > 0;
  $("page-label").textContent = state.pages > 1 ? `Page ${state.page} of ${state.pages} · ${state.count} items` : `${state.count} item${state.count === 1 ? "" : "s"}`;
  $("page-prev").disabled = state.page <= 1;
  $("page-next").disabled = state.page >= state.pages;
  renderBulk();
  tick();
}

function renderBulk() {
  const n = state.selected.size;
  $("bulk-count").textContent = n ? `${n} selected` : "Select all";
  $("bulk-approve").disabled = n === 0;
  $("bulk-reject").disabled = n === 0;
  const selectable = state.rows.filter((r) => OPEN.has(r.status));
  $("select-all").checked = n > 0 && selectable.every((r) => state.selected.has(r.id));
}

function renderStats() {
  const s = state.stats;
  if (!s) return;
  $("stat-depth").textContent = s.overdue ? `${s.queue_depth} (${s.overdue} overdue)` : String(s.queue_depth);
  $("stat-oldest").dataset.age = s.oldest_age_s == null ? "" : String(serverNow() - s.oldest_age_s * 1000);
  $("stat-median").textContent = s.median_decision_s_today == null ? "–" : duration(s.median_decision_s_today);
  const decided = s.overturn.reduce((n, r) => n + r.decided, 0);
  const overturned = s.overturn.reduce((n, r) => n + r.overturned, 0);
  $("stat-overturn").textContent = decided ? `${percent(overturned / decided)} of ${decided}` : "–";
  $("overturn-rows").replaceChildren(
    ...s.overturn.map((r) =>
      h("tr", {}, h("td", { text: r.check }), h("td", { text: r.name }), h("td", { text: String(r.decided) }), h("td", { text: percent(r.rate) })),
    ),
  );
  document.title = `(${s.queue_depth}) Review console · Guarded chat`;
  tick();
}

// Countdowns, once a second: no re-render, only the clocks.
function tick() {
  const now = serverNow();
  for (const el of document.querySelectorAll("[data-sla]")) {
    const row = state.rows.find((r) => String(r.id) === el.dataset.sla) || (state.item && String(state.item.id) === el.dataset.sla ? state.item : null);
    if (!row) continue;
    const sla = slaState(row, now);
    el.textContent = sla.text;
    el.dataset.state = sla.state;
  }
  for (const el of document.querySelectorAll("[data-ago]")) el.textContent = ago(el.dataset.ago, now);
  const oldest = $("stat-oldest");
  oldest.textContent = oldest.dataset.age ? duration((now - Number(oldest.dataset.age)) / 1000) : "–";
  const lapse = document.querySelector("[data-claim-expires]");
  if (lapse) {
    const left = (Date.parse(lapse.dataset.claimExpires) - now) / 1000;
    lapse.textContent = left > 0 ? `lapses in ${clock(left)}` : "claim lapsed: anyone can take it";
    const key = `${state.current}@${lapse.dataset.claimExpires}`;
    if (left <= 0 && state.lapseRendered !== key) {
      state.lapseRendered = key; // once per claim: renderItem calls tick again
      renderItem(); // the actions change
    }
  }
}

// --- One item ----------------------------------------------------------------------------------

async function openItem(id, { focus = false } = {}) {
  if (state.current !== id) state.editing = false;
  state.current = id;
  root.dataset.view = "item";
  for (const li of document.querySelectorAll(".row")) li.setAttribute("aria-current", String(Number(li.dataset.id) === id));
  const row = document.querySelector(`.row[data-id="${id}"]`);
  if (row) row.scrollIntoView({ block: "nearest" });
  await loadItem(id);
  if (focus) $("main").focus();
}

async function loadItem(id) {
  let item;
  try {
    item = await api.fetchItem(id);
  } catch (err) {
    toast(explain(err));
    return;
  }
  if (state.current !== id) return;
  learnClock(item.now);
  state.item = item;
  renderItem();
}

function claimLapsed(item) {
  return item.status === "claimed" && item.claim_expires_at && Date.parse(item.claim_expires_at) <= serverNow();
}

function permissions(item) {
  const open = OPEN.has(item.status);
  const lapsed = claimLapsed(item);
  const mine = item.status === "claimed" && item.claimed_by === me && !lapsed;
  const other = item.status === "claimed" && item.claimed_by !== me && !lapsed;
  return { open, mine, other, canDecide: open && !other, canClaim: open && !other && !mine };
}

/** A key shown on a button; the button names it in aria-keyshortcuts instead. */
function keyHint(key) {
  return h("kbd", { text: key, "aria-hidden": "true" });
}

function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", { class: "panel__title", text: title }), ...children);
}

function renderReply(item) {
  const reasons = item.reasons || [];
  const parts = [];
  for (const seg of item.message.segments) {
    const start = Number(seg.start || 0);
    const pieces = highlightPieces(seg.text, start, reasons).map((p) =>
      p.marked
        ? h("mark", { class: "hl", title: p.reasons.map((i) => reasonLabel(reasons[i])).join(", ") }, p.text, h("sup", { class: "hl__ref", text: p.reasons.map((i) => i + 1).join(",") }))
        : document.createTextNode(p.text),
    );
    if (seg.kind === "held") {
      parts.push(h("div", { class: "reply__held" }, h("span", { class: "reply__tag", text: item.decision ? "Held until the decision below" : "Held — the user sees a placeholder" }), h("p", { class: "reply__text" }, ...pieces)));
    } else {
      parts.push(h("div", { class: "reply__shown" }, h("span", { class: "reply__tag", text: "Shown to the user" }), h("p", { class: "reply__text" }, ...pieces)));
    }
  }
  const reasonList = h(
    "ol",
    { class: "reasons" },
    ...reasons.map((r) =>
      h(
        "li",
        { class: "reason", "data-check": r.check },
        h("span", { class: "reason__name", text: `${r.check} · ${r.label}` }),
        h("span", { class: "reason__detail", text: [
          typeof r.score === "number" ? `score ${r.score.toFixed(2)}` : null,
          r.pattern ? `pattern ${r.pattern}${r.pattern_version ? ` v${r.pattern_version}` : ""}` : null,
          Array.isArray(r.span) ? `chars ${r.span[0]}–${r.span[1]}` : null,
          r.model ? `model ${r.model}` : null,
        ].filter(Boolean).join(" · ") }),
      ),
    ),
  );
  return h("div", { class: "reply" }, h("div", { class: "reply__parts" }, ...parts), h("aside", { class: "reply__reasons", "aria-label": "Reasons" }, reasonList));
}

function renderActions(item) {
  const p = permissions(item);
  const bar = h("div", { class: "actions", role: "group", "aria-label": "Actions" });
  if (p.mine) bar.append(h("button", { type: "button", class: "button button--secondary", id: "act-release", onclick: () => act(() => api.release(item.id), "Released") }, "Release"));
  else bar.append(h("button", { type: "button", class: "button button--secondary", id: "act-claim", "aria-keyshortcuts": "c", disabled: !p.canClaim, onclick: () => act(() => api.claim(item.id), "Claimed") }, "Claim", keyHint("c")));
  bar.append(
    h("button", { type: "button", class: "button button--primary", id: "act-approve", "aria-keyshortcuts": "a", disabled: !p.canDecide, onclick: () => act(() => api.decide(item.id, "approved"), "Approved") }, "Approve", keyHint("a")),
    h("button", { type: "button", class: "button button--danger", id: "act-reject", "aria-keyshortcuts": "r", disabled: !p.canDecide, onclick: () => act(() => api.decide(item.id, "rejected"), "Rejected") }, "Reject", keyHint("r")),
    h("button", { type: "button", class: "button button--secondary", id: "act-edit", "aria-keyshortcuts": "e", disabled: !p.canDecide, onclick: () => startEdit() }, "Edit", keyHint("e")),
  );
  return bar;
}

function claimLine(item) {
  if (item.status === "decided" || item.status === "expired") {
    const who = item.decided_by || "nobody in time (expired)";
    const took = item.decided_at ? ` · ${duration((Date.parse(item.decided_at) - Date.parse(item.created_at)) / 1000)} after it was queued` : "";
    return h("p", { class: "item__claim", "data-state": "decided", text: `${item.decision} by ${who}${took}` });
  }
  if (item.status === "claimed") {
    const who = item.claimed_by === me ? "you" : item.claimed_by;
    return h("p", { class: "item__claim", "data-state": item.claimed_by === me ? "mine" : "other" }, `Claimed by ${who} · `, h("span", { "data-claim-expires": item.claim_expires_at }));
  }
  return h("p", { class: "item__claim", "data-state": "free", text: "Unclaimed: claim it so nobody else decides it meanwhile." });
}

function renderItem() {
  const item = state.item;
  const body = $("item-body");
  if (!item) {
    body.hidden = true;
    $("item-empty").hidden = false;
    return;
  }
  const p = permissions(item);
  const header = h(
    "header",
    { class: "item__header" },
    h("button", { type: "button", class: "button button--ghost button--small item__back", onclick: () => (root.dataset.view = "queue") }, "← Queue"),
    h("h2", { class: "item__title", text: `${item.message.user} · item ${item.id}` }),
    OPEN.has(item.status) ? h("span", { class: "sla", "data-sla": item.id }) : chip(item.decision || item.status, item.decision === "rejected" ? "failed" : "reviewed"),
  );
  const context = h(
    "ol",
    { class: "transcript" },
    ...item.context.map((m) => h("li", { class: "turn", "data-role": m.role }, h("span", { class: "turn__role", text: m.role === "user" ? item.message.user : "Assistant (as shown)" }), h("p", { class: "turn__text", text: m.text }))),
  );
  const children = [header, claimLine(item)];
  if (OPEN.has(item.status)) children.push(renderActions(item));
  if (p.other) children.push(h("p", { class: "item__blocked", text: `${item.claimed_by} is working on this item; only they can decide it unless they release it or the claim lapses.` }));
  if (state.editing && p.canDecide) children.push(renderEditor(item));
  children.push(section("Conversation before the reply", item.context.length ? context : h("p", { class: "muted", text: "No earlier messages." })));
  children.push(section("The reply", renderReply(item)));
  if (item.decision) children.push(section("What the user sees now", h("p", { class: "reply__text decision-text", text: item.decision_text || "" })));
  children.push(renderNotes(item), renderAudit(item));
  body.replaceChildren(...children);
  body.hidden = false;
  $("item-empty").hidden = true;
  tick();
  if (state.editing) $("edit-text")?.focus();
}

function renderEditor(item) {
  const text = h("textarea", { id: "edit-text", class: "editor__text", rows: 5, "aria-label": "Text the user will see" });
  text.value = item.held_text;
  const send = () => act(() => api.decide(item.id, "edited", text.value), "Edited text sent").then(() => (state.editing = false));
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) send();
    if (event.key === "Escape") {
      state.editing = false;
      renderItem();
    }
  });
  return h(
    "div",
    { class: "editor" },
    h("label", { for: "edit-text", class: "editor__label", text: "Edit what the user will see in place of the held text" }),
    text,
    h(
      "div",
      { class: "editor__actions" },
      h("button", { type: "button", class: "button button--primary", id: "edit-send", onclick: send }, "Send edited text"),
      h("button", { type: "button", class: "button button--ghost", onclick: () => { state.editing = false; renderItem(); } }, "Cancel"),
      h("span", { class: "muted", text: "Ctrl+Enter sends" }),
    ),
  );
}

function renderNotes(item) {
  const list = h(
    "ul",
    { class: "notes" },
    ...item.notes.map((n) => h("li", { class: "note" }, h("span", { class: "note__meta", text: `${n.author || "deleted user"} · ${new Date(n.created_at).toLocaleString()}` }), h("p", { class: "note__text", text: n.text }))),
  );
  const box = h("textarea", { id: "note-text", class: "notes__input", rows: 2, placeholder: "Add a note for other agents", "aria-label": "Note" });
  const add = async () => {
    if (!box.value.trim()) return;
    const ok = await act(() => api.addNote(item.id, box.value), "Note added");
    if (ok) box.value = "";
  };
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) add();
  });
  return section(
    `Notes (${item.notes.length})`,
    item.notes.length ? list : h("p", { class: "muted", text: "No notes yet." }),
    h("div", { class: "notes__form" }, box, h("button", { type: "button", class: "button button--secondary", id: "note-add", onclick: add }, "Add note")),
  );
}

function renderAudit(item) {
  const verified = item.audit.verified;
  return h(
    "details",
    { class: "panel audit" },
    h("summary", { class: "panel__title" }, "Audit trail ", h("span", { class: "audit__verdict", "data-ok": String(verified), text: verified ? "✓ chain verified" : "✗ chain broken" })),
    h(
      "ol",
      { class: "audit__entries" },
      ...item.audit.entries.map((e) =>
        h("li", { class: "audit__entry", "data-ok": String(e.verified) }, h("span", { class: "audit__kind", text: `#${e.seq} ${e.kind}` }), h("span", { class: "muted", text: ` ${e.actor} · ${new Date(e.created_at).toLocaleString()}` })),
      ),
    ),
  );
}

// --- Actions ----------------------------------------------------------------------------------

async function act(run, done) {
  try {
    await run();
  } catch (err) {
    toast(explain(err));
    if (state.current) await loadItem(state.current);
    await loadRows();
    return false;
  }
  toast(done, "ok");
  if (state.current) await loadItem(state.current);
  await loadRows();
  return true;
}

function startEdit() {
  const item = state.item;
  if (!item || !permissions(item).canDecide) return;
  state.editing = true;
  renderItem();
}

async function bulk(decision) {
  const ids = [...state.selected];
  if (!ids.length) return;
  let result;
  try {
    result = await api.bulkDecide(ids, decision);
  } catch (err) {
    toast(explain(err));
    return;
  }
  state.selected.clear();
  const skipped = result.skipped.map((s) => (s.claimed_by ? `#${s.id} (claimed by ${s.claimed_by})` : `#${s.id} (${s.code})`));
  const words = decision === "approved" ? "Approved" : "Rejected";
  toast(skipped.length ? `${words} ${result.decided.length}; skipped ${skipped.join(", ")}.` : `${words} ${result.decided.length}.`, skipped.length ? "error" : "ok");
  await loadRows();
  if (state.current) await loadItem(state.current);
}

// --- Live -------------------------------------------------------------------------------------

let refreshTimer = null;
const dirtyItems = new Set();
function scheduleRefresh(id) {
  if (id != null) dirtyItems.add(id);
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    const touched = state.current != null && dirtyItems.has(state.current);
    dirtyItems.clear();
    await loadRows();
    if (touched && !state.editing) await loadItem(state.current);
    else if (touched && state.item) loadItem(state.current);
  }, REFRESH_DEBOUNCE_MS);
}

const LABELS = { connecting: "Connecting…", open: "Live", offline: "Reconnecting…", signed_out: "Signed out" };
const scheme = location.protocol === "https:" ? "wss" : "ws";
const connection = createConnection({
  url: `${scheme}://${location.host}/ws/console/`,
  onFrame: (frame) => {
    if (frame.type === "review_item") scheduleRefresh(frame.item && frame.item.id);
    else if (frame.type === "error" && frame.code === "forbidden") {
      connection.signOut();
      toast("You no longer have the review permission. Reload to sign in with another account.");
    }
  },
  onOpen: (connects) => {
    if (connects > 1) scheduleRefresh(state.current); // catch up on anything missed
  },
  onStatus: ({ state: s }) => {
    root.dataset.connection = s;
    const el = $("connection");
    el.dataset.state = s;
    el.querySelector(".connection__label").textContent = LABELS[s] || s;
  },
  checkSession: api.sessionAlive,
});

// --- Keyboard -----------------------------------------------------------------------------------

function move(delta) {
  if (!state.rows.length) return;
  const index = state.rows.findIndex((r) => r.id === state.current);
  const next = index < 0 ? (delta > 0 ? 0 : state.rows.length - 1) : Math.min(state.rows.length - 1, Math.max(0, index + delta));
  openItem(state.rows[next].id);
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]")) return;
  if ($("help").open) return;
  const item = state.item;
  const p = item ? permissions(item) : null;
  const keys = {
    j: () => move(1),
    k: () => move(-1),
    "?": () => $("help").showModal(),
    c: () => p && (p.mine ? act(() => api.release(item.id), "Released") : p.canClaim && act(() => api.claim(item.id), "Claimed")),
    a: () => p && p.canDecide && act(() => api.decide(item.id, "approved"), "Approved"),
    r: () => p && p.canDecide && act(() => api.decide(item.id, "rejected"), "Rejected"),
    e: () => startEdit(),
    n: () => $("note-text")?.focus(),
    x: () => {
      if (!item || !OPEN.has(item.status)) return;
      if (state.selected.has(item.id)) state.selected.delete(item.id);
      else state.selected.add(item.id);
      renderRows();
    },
  };
  const run = keys[event.key];
  if (!run) return;
  event.preventDefault();
  run();
}

// --- Wiring ----------------------------------------------------------------------------------

for (const button of document.querySelectorAll(".filter")) {
  button.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".filter")) other.setAttribute("aria-pressed", String(other === button));
    Object.assign(state, { status: button.dataset.status, page: 1 });
    state.selected.clear();
    loadRows();
  });
}
let searchTimer = null;
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    Object.assign(state, { q: $("search-q").value.trim(), check: $("search-check").value, pattern: $("search-pattern").value.trim(), page: 1 });
    loadRows();
  }, 200);
});
$("search").addEventListener("submit", (event) => event.preventDefault());
$("page-prev").addEventListener("click", () => { state.page -= 1; loadRows(); });
$("page-next").addEventListener("click", () => { state.page += 1; loadRows(); });
$("select-all").addEventListener("change", (event) => {
  for (const row of state.rows) if (OPEN.has(row.status)) event.target.checked ? state.selected.add(row.id) : state.selected.delete(row.id);
  renderRows();
});
$("bulk-approve").addEventListener("click", () => bulk("approved"));
$("bulk-reject").addEventListener("click", () => bulk("rejected"));
$("help-button").addEventListener("click", () => $("help").showModal());
document.addEventListener("keydown", onKey);
setInterval(tick, 1000);

root.dataset.view = "queue";
loadRows();
connection.start();
