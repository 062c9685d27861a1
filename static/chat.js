/* Guarded chat: the web client of WebSocket protocol v1 (DESIGN §4). An ES module, loaded with
 * <script type="module"> by templates/chat/index.html; no build step.
 *
 * The parts (static/chat/):
 *   reducer.mjs     pure: server frames and local events in, conversation state and effects out
 *   connection.mjs  the WebSocket: reconnect with backoff, resume from the last seq, ping
 *   messages.mjs    message views, page.mjs the rest of the page: they only render
 *   api.mjs         HTTP calls; text.mjs the words shown; dom.mjs text-only DOM helpers
 * This file wires them: every event goes through dispatch(), which steps the reducer, renders,
 * then carries out the effects the reducer asked for.
 *
 * Delivery: the page starts from a snapshot (GET /api/conversations/<id>/), then subscribes
 * with the snapshot's after_seq and follows live; the reducer shows each event once.
 * Safety: user text only ever reaches the page through textContent or Text nodes; replies are
 * Markdown, sanitized by DOMPurify (chat/markdown.mjs) before they reach the page.
 */

import * as api from "./chat/api.mjs";
import { backoffDelay, createConnection } from "./chat/connection.mjs";
import { MessageList } from "./chat/messages.mjs";
import {
  ScrollFollower,
  announce,
  applyTheme,
  autosize,
  findElements,
  hideBanner,
  isDark,
  moveToTop,
  renderComposer,
  renderConversationList,
  setConnection,
  setSidebar,
  showBanner,
  showConversation,
  showTitle,
} from "./chat/page.mjs";
import { canSend, initialState, resumeFrames, step } from "./chat/reducer.mjs";
import {
  CONNECTION_LOST_TEXT,
  CONTINUE_TEXT,
  DECISION_LABEL,
  DONE_ANNOUNCEMENT,
  ERROR_TEXT,
  LOAD_RETRY_TEXT,
  SIGNED_OUT_TEXT,
  errorText,
  titleFrom,
} from "./chat/text.mjs";

const page = JSON.parse(document.getElementById("page-data").textContent);
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
const ui = findElements();
const scroller = new ScrollFollower(ui.scroll, ui.jump);
const messages = new MessageList(ui.messages, {
  placeholder: page.placeholder,
  onResend: (key) => dispatch({ type: "resend", key }),
  onRetry: (messageId) => dispatch({ type: "retry", messageId, clientMsgId: uuid() }),
  onRate: rate,
  onGrow: () => scroller.changed(),
  onContinue: (messageId) => dispatch({ type: "continue", messageId, text: CONTINUE_TEXT, clientMsgId: uuid(), at: Date.now() }),
  onRegenerate: (messageId) => dispatch({ type: "regenerate", messageId, clientMsgId: uuid(), at: Date.now() }),
  onEdit: (messageId, text) => dispatch({ type: "edit", messageId, text, clientMsgId: uuid(), at: Date.now() }),
  reviewMinutes: page.review_sla_minutes,
});
const LIMIT = page.max_input_chars || 0;

let state = initialState(page.conversation_id);

function dispatch(event) {
  const before = state;
  const result = step(state, event);
  state = result.state;
  render();
  for (const effect of result.effects) perform(effect);
  if (["send", "retry", "continue", "regenerate", "edit"].includes(event.type)) {
    if (state.messages !== before.messages) scroller.toLatest();
  } else if (event.type === "frame" && state.messages !== before.messages) {
    scroller.changed();
  }
}

function render() {
  messages.render(state);
  if (state.messages.length) ui.welcome.hidden = true;
  renderComposer(ui, state, LIMIT);
}

function perform(effect) {
  switch (effect.type) {
    case "send":
      connection.send(effect.frame);
      break;
    case "adopted":
      showConversation(ui, effect.conversationId, titleFrom(effect.text));
      break;
    case "turn_started":
      moveToTop(ui, effect.conversationId);
      break;
    case "done":
      announce(ui, DONE_ANNOUNCEMENT[effect.status] || "Reply finished.");
      break;
    case "reviewed":
      announce(ui, DECISION_LABEL[effect.decision] || "A held part of a reply was reviewed.");
      // Seen here, as it happens: no badge for it in the list later.
      if (state.conversationId !== null) api.markSeen(state.conversationId, csrfToken).catch(() => {});
      break;
    case "refused":
      // Our message was refused: back in the box (unless something new was typed), to edit.
      if (!ui.input.value.trim()) {
        ui.input.value = effect.text;
        autosize(ui.input);
        renderComposer(ui, state, LIMIT);
      }
      announce(ui, effect.reason || "Your message was not answered.");
      break;
    case "unsent":
      announce(ui, `Not sent. ${errorText(effect.code)}`);
      break;
    case "request_error":
      showBanner(ui, errorText(effect.code));
      break;
    default:
      break;
  }
}

function uuid() {
  if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // works outside secure contexts too
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function rate(messageId, value, comment, extra = {}) {
  try {
    const rating = await api.saveRating(messageId, value, comment, csrfToken, extra);
    dispatch({ type: "rated", messageId, rating: extra.report ? { ...rating, reported: true } : rating });
    return true;
  } catch (err) {
    return false;
  }
}

// --- Connection ----------------------------------------------------------------------------------

const connection = createConnection({
  url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/chat/`,
  resume: () => resumeFrames(state),
  checkSession: api.sessionAlive,
  onOpen: (socket) => dispatch({ type: "socket_open", socket }),
  onClose: () => dispatch({ type: "socket_closed" }),
  onFrame: (frame) => dispatch({ type: "frame", frame, at: Date.now() }),
  onStatus: showConnection,
});

function showConnection({ state: kind, connects, attempt }) {
  if (kind === "connecting") {
    setConnection(ui, "connecting", connects ? "Reconnecting…" : "Connecting…");
  } else if (kind === "open") {
    ui.app.dataset.connects = String(connects);
    setConnection(ui, "open", "Connected");
    hideBanner(ui);
  } else if (kind === "offline") {
    setConnection(ui, "offline", "Reconnecting…");
    if (attempt >= 3) showBanner(ui, CONNECTION_LOST_TEXT, { label: "Reconnect now", onClick: connection.reconnectNow });
  } else if (kind === "signed_out") {
    setConnection(ui, "offline", "Signed out");
    const next = encodeURIComponent(location.pathname);
    showBanner(ui, SIGNED_OUT_TEXT, { label: "Sign in", href: `/accounts/login/?next=${next}` });
    dispatch({ type: "signed_out" });
  }
}

// --- Composer and sidebar ------------------------------------------------------------------------

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.input.value;
  if (!text.trim()) return;
  if (!canSend(state)) {
    // Say why nothing happens: a reply (perhaps started in another tab) is being written.
    if (state.running) showBanner(ui, ERROR_TEXT.busy, { label: "Stop it", onClick: () => dispatch({ type: "stop" }) });
    return;
  }
  hideBanner(ui);
  ui.input.value = "";
  autosize(ui.input);
  dispatch({ type: "send", text, clientMsgId: uuid(), at: Date.now() });
});

ui.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    ui.composer.requestSubmit();
  } else if (event.key === "Escape" && state.running) {
    event.preventDefault();
    dispatch({ type: "stop" });
  }
});

ui.input.addEventListener("input", () => {
  autosize(ui.input);
  renderComposer(ui, state, LIMIT);
});
ui.stop.addEventListener("click", () => {
  dispatch({ type: "stop" });
  ui.input.focus();
});
ui.jump.addEventListener("click", () => {
  scroller.toLatest();
  ui.input.focus();
});

ui.menu.addEventListener("click", () => setSidebar(ui, true));
ui.sidebarClose.addEventListener("click", () => setSidebar(ui, false));
ui.scrim.addEventListener("click", () => setSidebar(ui, false));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && ui.app.classList.contains("sidebar-open")) setSidebar(ui, false);
});

// --- Conversations: search, rename, delete; theme ------------------------------------------------

let searchTimer = null;
let listRequest = 0;

/** Reload the sidebar list (search results while the search box has text). */
async function refreshList() {
  const query = ui.searchInput.value.trim();
  const request = ++listRequest;
  try {
    const conversations = await api.listConversations(query);
    if (request === listRequest) renderConversationList(ui, conversations, state.conversationId, { searching: Boolean(query) });
  } catch (err) {
    /* the list stays as it is; the next refresh tries again */
  }
}

ui.search.addEventListener("submit", (event) => event.preventDefault());
ui.searchInput.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(refreshList, 200);
});
// Decisions on other conversations: their badges appear when the page comes back into view.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refreshList();
});
setInterval(refreshList, 60_000);

ui.rename.addEventListener("click", async () => {
  const id = state.conversationId;
  const title = window.prompt("New name for this conversation", ui.title.textContent);
  if (id === null || title === null || !title.trim()) return;
  try {
    const renamed = await api.renameConversation(id, title, csrfToken);
    showTitle(ui, id, renamed.title);
    announce(ui, "Conversation renamed.");
  } catch (err) {
    showBanner(ui, `Couldn't rename it. ${err.message}`);
  }
});

ui.remove.addEventListener("click", async () => {
  const id = state.conversationId;
  if (id === null || !window.confirm("Delete this conversation? You won't see it again.")) return;
  try {
    await api.deleteConversation(id, csrfToken);
    location.assign("/");
  } catch (err) {
    showBanner(ui, `Couldn't delete it. ${err.message}`);
  }
});

ui.themeToggle.addEventListener("click", () => applyTheme(ui, isDark() ? "light" : "dark"));
ui.themeToggle.setAttribute("aria-pressed", String(isDark()));

// --- Start ---------------------------------------------------------------------------------------

/** Load the conversation's snapshot, retrying with backoff; false when there is nothing to show. */
async function loadSnapshot() {
  for (let attempt = 0; ; attempt++) {
    try {
      const { status, snapshot } = await api.fetchSnapshot(state.conversationId);
      if (status === 401) {
        connection.signOut();
        return false;
      }
      if (status === 404) {
        ui.loading.hidden = true;
        showBanner(ui, ERROR_TEXT.not_found);
        return false;
      }
      ui.loading.hidden = true;
      dispatch({ type: "snapshot", snapshot });
      if (!snapshot.messages.length) ui.welcome.hidden = false;
      scroller.toLatest();
      return true;
    } catch (err) {
      ui.loading.textContent = LOAD_RETRY_TEXT;
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt)));
    }
  }
}

// Test and debugging hook: feed a frame as if it came from the server; read (or set) the state.
window.chatApp = {
  handleFrame: (frame) => dispatch({ type: "frame", frame }),
  state: new Proxy(
    {},
    {
      get: (_, name) => state[name],
      set: (_, name, value) => {
        state = { ...state, [name]: value };
        return true;
      },
    },
  ),
};

async function start() {
  renderComposer(ui, state, LIMIT);
  if (state.conversationId !== null && !(await loadSnapshot())) return;
  ui.app.dataset.ready = "true";
  connection.start();
  ui.input.focus({ preventScroll: true });
}

start();
