/* The page around the messages: scrolling, composer, connection indicator, banner, sidebar and
 * the screen-reader announcer. These render what they are told; chat.js decides when. */

import { h, icon } from "./dom.mjs";
import { isGenerating } from "./reducer.mjs";
import { counterText } from "./text.mjs";

const STICK_THRESHOLD_PX = 72;

/** The page's fixed elements (templates/chat/index.html). */
export function findElements(root = document) {
  const $ = (selector) => root.querySelector(selector);
  return {
    app: $("#app"),
    title: $("#chat-title"),
    scroll: $("#scroll"),
    messages: $("#messages"),
    welcome: $("#welcome"),
    loading: $("#loading"),
    banner: $("#banner"),
    connection: $("#connection"),
    connectionLabel: $("#connection .connection__label"),
    composer: $("#composer"),
    input: $("#composer-input"),
    send: $("#send-button"),
    stop: $("#stop-button"),
    hint: $("#composer-hint"),
    jump: $("#jump"),
    announcer: $("#announcer"),
    list: $("#conversation-list"),
    listEmpty: $("#conversation-list-empty"),
    menu: $("#menu-button"),
    sidebar: $("#sidebar"),
    sidebarClose: $("#sidebar-close"),
    scrim: $("#scrim"),
    counter: $("#composer-counter"),
    search: $("#search"),
    searchInput: $("#search-input"),
    searchEmpty: $("#search-empty"),
    actions: $("#chat-actions"),
    rename: $("#rename-button"),
    remove: $("#delete-button"),
    themeToggle: $("#theme-toggle"),
  };
}

/** Keeps the newest text in view unless the user scrolled up (then offers "Jump to latest"). */
export class ScrollFollower {
  constructor(scroll, jump) {
    this.scroll = scroll;
    this.jump = jump;
    this.stick = true;
    scroll.addEventListener(
      "scroll",
      () => {
        this.stick = this.nearBottom();
        if (this.stick) jump.hidden = true;
      },
      { passive: true },
    );
  }

  nearBottom() {
    const s = this.scroll;
    return s.scrollHeight - s.scrollTop - s.clientHeight < STICK_THRESHOLD_PX;
  }

  /** The content grew or changed. */
  changed() {
    if (this.stick) this.scroll.scrollTop = this.scroll.scrollHeight;
    else if (!this.nearBottom()) this.jump.hidden = false;
  }

  toLatest() {
    this.stick = true;
    this.jump.hidden = true;
    this.scroll.scrollTop = this.scroll.scrollHeight;
  }
}

/** `limit`: GUARDRAILS_MAX_INPUT_CHARS (the counter shows near it). */
export function renderComposer(ui, state, limit = 0) {
  const generating = isGenerating(state);
  const open = state.socket !== null;
  ui.stop.hidden = !generating;
  ui.stop.disabled = !state.running || state.stopRequested || !open;
  ui.stop.lastChild.textContent = state.stopRequested ? "Stopping…" : "Stop";
  ui.send.hidden = generating;
  ui.send.disabled = generating || !ui.input.value.trim() || state.signedOut;
  ui.app.dataset.generating = String(generating);
  // The keyboard part of the hint is hidden on touch screens (chat.css, hover: none).
  const [lead, keys] = generating
    ? ["Generating a reply", " · Esc or Stop to stop it"]
    : ["", "Enter to send · Shift+Enter for a new line"];
  if (ui.hint.dataset.shows !== String(generating)) {
    ui.hint.dataset.shows = String(generating);
    ui.hint.replaceChildren(lead, h("span", { class: "composer__keys", text: keys }));
  }
  const length = ui.input.value.length;
  const counter = counterText(length, limit);
  ui.counter.hidden = counter === null;
  ui.counter.textContent = counter || "";
  ui.counter.dataset.over = String(length > limit);
}

export function autosize(input) {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 220)}px`;
}

export function setConnection(ui, kind, label) {
  ui.connection.dataset.state = kind;
  ui.connectionLabel.textContent = label;
  ui.app.dataset.connection = kind;
}

/** A message above the composer, with an optional action: {label, href} or {label, onClick}. */
export function showBanner(ui, text, action = null) {
  ui.banner.replaceChildren(icon("alert"), h("span", { class: "banner__text", text }));
  if (action && action.href) {
    ui.banner.append(h("a", { class: "button button--small button--secondary", href: action.href }, action.label));
  } else if (action) {
    ui.banner.append(
      h("button", { type: "button", class: "button button--small button--secondary", onclick: action.onClick }, action.label),
    );
  }
  ui.banner.hidden = false;
}

export function hideBanner(ui) {
  ui.banner.hidden = true;
  ui.banner.replaceChildren();
}

export function announce(ui, text) {
  ui.announcer.textContent = "";
  // A new text node in a live region is read even when the words repeat.
  requestAnimationFrame(() => {
    ui.announcer.textContent = text;
  });
}

/** The page now shows a new conversation: its address, title and place in the sidebar. */
export function showConversation(ui, conversationId, title) {
  const url = `/c/${conversationId}/`;
  if (location.pathname !== url) history.replaceState(null, "", url);
  ui.title.textContent = title;
  document.title = `${title} · Guarded chat`;
  ui.actions.hidden = false;
  let link = ui.list.querySelector(`a[data-conversation-id="${conversationId}"]`);
  let item;
  if (link) {
    item = link.closest("li");
  } else {
    link = h(
      "a",
      { class: "conversation-link", href: url, "data-conversation-id": conversationId },
      h("span", { class: "conversation-link__title", text: title }),
      h("time", { class: "conversation-link__time", datetime: new Date().toISOString(), text: "Now" }),
    );
    item = h("li", {}, link);
  }
  for (const current of ui.list.querySelectorAll("[aria-current]")) current.removeAttribute("aria-current");
  link.setAttribute("aria-current", "page");
  ui.list.prepend(item);
  ui.listEmpty.hidden = true;
}

/** Replace the sidebar's list with `conversations` ({id, title, updated_at, decision_unseen}). */
export function renderConversationList(ui, conversations, currentId, { searching = false } = {}) {
  const items = conversations.map((c) => {
    const link = h(
      "a",
      { class: "conversation-link", href: `/c/${c.id}/`, "data-conversation-id": c.id },
      h("span", { class: "conversation-link__title", text: c.title }),
      c.decision_unseen && c.id !== currentId ? h("span", { class: "conversation-link__badge", text: "Reviewed" }) : null,
      h("time", {
        class: "conversation-link__time",
        datetime: c.updated_at,
        text: new Date(c.updated_at).toLocaleDateString([], { month: "short", day: "numeric" }),
      }),
    );
    if (c.id === currentId) link.setAttribute("aria-current", "page");
    return h("li", {}, link);
  });
  ui.list.replaceChildren(...items);
  ui.listEmpty.hidden = searching || items.length > 0;
  ui.searchEmpty.hidden = !searching || items.length > 0;
}

/** The conversation's title changed (renamed here). */
export function showTitle(ui, conversationId, title) {
  ui.title.textContent = title;
  document.title = `${title} · Guarded chat`;
  const link = ui.list.querySelector(`a[data-conversation-id="${conversationId}"] .conversation-link__title`);
  if (link) link.textContent = title;
}

/** The colour theme: "dark", "light", or null (follow the system). Saved for the next visit. */
export function applyTheme(ui, theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  try {
    if (theme) localStorage.setItem("theme", theme);
    else localStorage.removeItem("theme");
  } catch (err) {
    /* storage blocked: the choice lasts for this page */
  }
  ui.themeToggle.setAttribute("aria-pressed", String(isDark()));
}

export function isDark() {
  const chosen = document.documentElement.dataset.theme;
  return chosen ? chosen === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
}

/** The most recently active conversation goes first in the sidebar. */
export function moveToTop(ui, conversationId) {
  const link = ui.list.querySelector(`a[data-conversation-id="${conversationId}"]`);
  if (link && link.closest("li") !== ui.list.firstElementChild) ui.list.prepend(link.closest("li"));
}

/** The sidebar as a drawer on narrow screens. */
export function setSidebar(ui, open) {
  ui.app.classList.toggle("sidebar-open", open);
  ui.menu.setAttribute("aria-expanded", String(open));
  ui.scrim.hidden = !open;
  if (open) {
    (ui.sidebar.querySelector("[aria-current]") || ui.sidebar.querySelector("a, button")).focus();
  } else {
    ui.menu.focus();
  }
}
