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
 * Safety: model and user text only ever reaches the page through textContent or Text nodes.
 */

import * as api from "./chat/api.mjs";
import { backoffDelay, createConnection } from "./chat/connection.mjs";
import { MessageList } from "./chat/messages.mjs";
import {
  ScrollFollower,
  announce,
  autosize,
  findElements,
  hideBanner,
  moveToTop,
  renderComposer,
  setConnection,
  setSidebar,
  showBanner,
  showConversation,
} from "./chat/page.mjs";
import { canSend, initialState, resumeFrames, step } from "./chat/reducer.mjs";
import {
  CONNECTION_LOST_TEXT,
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
});

let state = initialState(page.conversation_id);

function dispatch(event) {
  const before = state;
  const result = step(state, event);
  state = result.state;
  render();
  for (const effect of result.effects) perform(effect);
  if (event.type === "send" || event.type === "retry") {
    if (state.messages !== before.messages) scroller.toLatest();
  } else if (event.type === "frame" && state.messages !== before.messages) {
    scroller.changed();
  }
}

function render() {
  messages.render(state);
  if (state.messages.length) ui.welcome.hidden = true;
  renderComposer(ui, state);
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

async function rate(messageId, value, comment) {
  try {
    const rating = await api.saveRating(messageId, value, comment, csrfToken);
    dispatch({ type: "rated", messageId, rating });
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
  onFrame: (frame) => dispatch({ type: "frame", frame }),
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
  if (!text.trim() || !canSend(state)) return;
  ui.input.value = "";
  autosize(ui.input);
  dispatch({ type: "send", text, clientMsgId: uuid() });
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
  renderComposer(ui, state);
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
  renderComposer(ui, state);
  if (state.conversationId !== null && !(await loadSnapshot())) return;
  ui.app.dataset.ready = "true";
  connection.start();
  ui.input.focus({ preventScroll: true });
}

start();
