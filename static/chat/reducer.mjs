/* The chat's protocol reducer: events in, conversation state out. Pure: no DOM, no I/O, no
 * clock, no randomness (ids come in with the events), and the state passed in is never changed.
 *
 *   step(state, event) -> { state, effects }
 *
 * Events are server frames ({type: "frame", frame}) and what happens on this side: a snapshot
 * loaded, a message sent, a socket opened or closed. Effects are plain descriptions of what the
 * caller should do next ({type: "send", frame}, {type: "adopted", ...}); the reducer never does
 * them itself. The console reuses it to follow a conversation.
 *
 * Delivery (DESIGN §4): every conversation event carries a contiguous `seq`; frames at or below
 * the last seq seen are dropped, and turn_started/delta/held/error/done for a reply already in a
 * final state are ignored, so each piece of text is shown once however often the socket drops.
 *
 * State (treat as read-only):
 *   conversationId  number|null   null until the first turn_started of our own message names it
 *   lastSeq         number        the replay cursor: subscribe with after_seq = lastSeq
 *   messages        Message[]     in page order; `key` is stable (a pending message gets its id later)
 *   pending         {key, sentOn, resent}|null   our message until its turn_started arrives
 *   running         number|null   id of the reply being generated
 *   stopRequested   boolean
 *   socket          number|null   id of the open socket (null while closed)
 *   signedOut       boolean
 *   ownReply        number|null   the reply to the last message this page sent
 *
 * Message: {key, id, role: "user", text, status: sent|sending|queued|unsent, code, clientMsgId,
 *           at, superseded, extra}
 *        | {key, id, role: "assistant", status, replyTo, segments, error: {code, detail}|null,
 *           retried, rating, at, superseded, finishReason, reason, checking}
 *   at: ms since the epoch (from the snapshot, or the event's `at`: when this page saw it)
 *   extra: the optional user_message fields (continue_of | regenerate_of | edit_of)
 *   reason: why a message was refused (done.reason); checking: characters waiting for checks
 * Segment: {kind: "released", text} | {kind: "held", placeholder}
 *        | {kind: "resolved", text, decision, hidden}
 */

export const FINAL = new Set(["complete", "held", "stopped", "failed", "refused"]);

/** The state of a page that shows `conversationId` (null: a new conversation). */
export function initialState(conversationId = null) {
  return {
    conversationId,
    lastSeq: 0,
    messages: [],
    pending: null,
    running: null,
    stopRequested: false,
    socket: null,
    signedOut: false,
    ownReply: null,
  };
}

/** Apply one event; returns the next state and the effects it asks for, in order. */
export function step(state, event) {
  const effects = [];
  const next = handle(state, event, effects);
  return { state: next, effects };
}

/** `step` without the effects (for readers that only follow a conversation). */
export function reduce(state, event) {
  return step(state, event).state;
}

function handle(state, event, fx) {
  switch (event.type) {
    case "frame":
      return onFrame(state, event.frame, fx, event.at ?? null);
    case "snapshot":
      return onSnapshot(state, event.snapshot);
    case "send":
      return send(state, event.text, event.clientMsgId, fx, event.at ?? null);
    case "continue":
      return continueReply(state, event.messageId, event.text, event.clientMsgId, fx, event.at ?? null);
    case "regenerate":
      return regenerate(state, event.messageId, event.clientMsgId, fx, event.at ?? null);
    case "edit":
      return edit(state, event.messageId, event.text, event.clientMsgId, fx, event.at ?? null);
    case "resend":
      return resend(state, event.key, fx);
    case "retry":
      return retry(state, event.messageId, event.clientMsgId, fx, event.at ?? null);
    case "stop":
      return stop(state, fx);
    case "socket_open":
      return flush({ ...state, socket: event.socket }, fx);
    case "socket_closed":
      return socketClosed(state);
    case "signed_out":
      return { ...state, signedOut: true };
    case "rated":
      return updateById(state, event.messageId, (m) => ({ ...m, rating: rated(m.rating, event.rating) }));
    default:
      return state;
  }
}

/** The stored rating after a save. A report to the review team can't be taken back: once sent it
 * stays `reported: true` through later saves (a comment, a changed thumb) that don't say so. */
function rated(before, after) {
  const { reported: sent, ...rating } = after;
  const reported = Boolean(sent || (before && before.reported));
  return reported ? { ...rating, reported: true } : rating;
}

// --- Reading the state (pure helpers the views share) -----------------------------------------

export function findById(state, id) {
  if (typeof id !== "number") return undefined;
  for (let i = state.messages.length - 1; i >= 0; i--) {
    if (state.messages[i].id === id) return state.messages[i];
  }
  return undefined;
}

export function findByKey(state, key) {
  return state.messages.find((m) => m.key === key);
}

export function isFinal(message) {
  return FINAL.has(message.status);
}

/** Whether a reply shows anything: released text, a placeholder or a resolution. */
export function hasText(message) {
  return message.segments.some((s) => s.kind !== "released" || s.text.length > 0);
}

/** Whether a reply shows text the user can read (released or a reviewer's text), not only a
 * placeholder: only such text can be rated or copied. */
export function hasShownText(message) {
  return message.segments.some((s) => (s.kind === "released" || (s.kind === "resolved" && !s.hidden)) && s.text.length > 0);
}

/** The text of a reply as shown (held parts left out), for "Copy". */
export function shownText(message) {
  return message.segments
    .filter((s) => s.kind === "released" || (s.kind === "resolved" && !s.hidden))
    .map((s) => s.text)
    .join("");
}

/** The messages the page shows (superseded ones are gone). */
export function visibleMessages(state) {
  return state.messages.filter((m) => !m.superseded);
}

function lastVisible(state) {
  const shown = visibleMessages(state);
  return shown[shown.length - 1];
}

/** The reply may be answered again: the last message on the page, finished, nothing running. */
export function canRegenerate(state, reply) {
  return (
    reply.role === "assistant" &&
    ["complete", "stopped", "held"].includes(reply.status) &&
    canSend(state) &&
    lastVisible(state) === reply &&
    questionOf(state, reply) !== null
  );
}

/** The reply ended at the length limit and may be continued. */
export function canContinue(state, reply) {
  return reply.finishReason === "length" && ["complete", "held"].includes(reply.status) && canSend(state) && lastVisible(state) === reply;
}

/** The user message that may be edited and resent: the last one, answered, nothing running. */
export function editableMessage(state) {
  if (!canSend(state)) return null;
  const shown = visibleMessages(state);
  for (let i = shown.length - 1; i >= 0; i--) {
    if (shown[i].role === "user") return shown[i].id !== null && shown[i].status === "sent" ? shown[i] : null;
  }
  return null;
}

/** The status a reply's chip shows: a held reply whose every held part was decided is "reviewed". */
export function shownStatus(message) {
  const reviewed =
    message.status === "held" &&
    message.segments.some((s) => s.kind === "resolved") &&
    !message.segments.some((s) => s.kind === "held");
  return reviewed ? "reviewed" : message.status;
}

/** The text of the user message a reply answers, or null when it is not on the page. */
export function questionOf(state, reply) {
  const question = reply.replyTo ? findById(state, reply.replyTo) : undefined;
  return question && question.role === "user" ? question.text : null;
}

/** A reply is being generated, or our message waits for its turn to start. */
export function isGenerating(state) {
  return Boolean(state.running) || Boolean(state.pending);
}

/** Whether the composer may send a new message now. */
export function canSend(state) {
  return !state.running && !state.pending && !state.signedOut;
}

/** The frames that resume following after a (re)connect: subscribe from the last seq seen. */
export function resumeFrames(state) {
  return state.conversationId === null ? [] : [subscribeFrame(state.conversationId, state.lastSeq)];
}

function subscribeFrame(conversationId, afterSeq) {
  return { type: "subscribe", conversation_id: conversationId, after_seq: Math.max(0, afterSeq) };
}

// --- Updating messages (copy on write) -----------------------------------------------------------

function updateWhere(state, match, change) {
  let changed = false;
  const messages = state.messages.map((m) => {
    if (changed || !match(m)) return m;
    changed = true;
    return change(m);
  });
  return changed ? { ...state, messages } : state;
}

function updateById(state, id, change) {
  const target = findById(state, id);
  return target ? updateWhere(state, (m) => m === target, change) : state;
}

function updateByKey(state, key, change) {
  return updateWhere(state, (m) => m.key === key, change);
}

function append(state, message) {
  return { ...state, messages: [...state.messages, message] };
}

function userMessage({ id = null, text, status = "sent", clientMsgId = null, at = null, extra = null }) {
  const key = id !== null ? `m${id}` : `c${clientMsgId}`;
  return { key, id, role: "user", text, status, code: null, clientMsgId, at, superseded: false, extra };
}

function reply({
  id,
  status = "streaming",
  replyTo = null,
  segments = [],
  error = null,
  rating = null,
  at = null,
  finishReason = null,
  reason = "",
}) {
  return {
    key: `m${id}`,
    id,
    role: "assistant",
    status,
    replyTo,
    segments,
    error,
    retried: false,
    rating,
    at,
    superseded: false,
    finishReason,
    reason,
    checking: null,
  };
}

// --- Snapshot (GET /api/conversations/<id>/) -----------------------------------------------------

function onSnapshot(state, snapshot) {
  let next = state;
  let running = state.running;
  for (const m of snapshot.messages) {
    next = append(next, fromSnapshot(m));
    if (m.role !== "user" && m.status === "streaming") running = m.id;
  }
  // `after_seq` is the protocol's word; `resume_after` is its older alias.
  const lastSeq = typeof snapshot.after_seq === "number" ? snapshot.after_seq : snapshot.resume_after;
  return { ...next, running, lastSeq };
}

function fromSnapshot(m) {
  const at = m.created_at ? Date.parse(m.created_at) : null;
  if (m.role === "user") {
    return userMessage({ id: m.id, text: m.segments.map((s) => s.text).join(""), at });
  }
  const segments = [];
  for (const s of m.segments) {
    if (s.kind === "released") {
      if (s.text) segments.push({ kind: "released", text: s.text });
    } else if (s.resolved) {
      segments.push({ kind: "resolved", text: s.text, decision: s.decision, hidden: false });
    } else {
      segments.push({ kind: "held", placeholder: s.placeholder });
    }
  }
  const error = m.status === "failed" ? { code: m.error_code || "internal", detail: m.error_detail || "" } : null;
  return reply({
    id: m.id,
    status: m.status,
    replyTo: m.reply_to,
    segments,
    error,
    rating: m.rating || null,
    at,
    finishReason: m.finish_reason || null,
    reason: m.status === "refused" ? m.error_detail || "" : "",
  });
}

// --- Frames from the server ------------------------------------------------------------------------

function matchesPending(state, frame) {
  const pending = state.pending && findByKey(state, state.pending.key);
  return Boolean(pending) && frame.user_text === pending.text;
}

function onFrame(state, frame, fx, at) {
  if (!frame || typeof frame.type !== "string") return state;
  if (frame.type === "error" && typeof frame.seq !== "number") return onRequestError(state, frame, fx);
  // Everything else that matters is a conversation event: it has a conversation and a seq.
  if (typeof frame.conversation_id !== "number" || typeof frame.seq !== "number") return state;
  if (state.conversationId === null) {
    // A new conversation: the first turn_started of our own message names it.
    if (frame.type !== "turn_started" || !matchesPending(state, frame)) return state;
    const question = findByKey(state, state.pending.key);
    state = { ...state, conversationId: frame.conversation_id, lastSeq: 0 };
    fx.push({ type: "adopted", conversationId: frame.conversation_id, text: question.text });
    // An idempotent resend is answered to the sender alone, not followed: ask to follow.
    if (state.pending.resent) fx.push({ type: "send", frame: subscribeFrame(state.conversationId, frame.seq - 1) });
  }
  if (frame.conversation_id !== state.conversationId) return state;
  if (frame.seq <= state.lastSeq) return state; // already shown
  state = { ...state, lastSeq: frame.seq };

  if (frame.type === "turn_started") return onTurnStarted(state, frame, fx, at);
  const target = findById(state, frame.message_id);
  if (!target || target.role !== "assistant") return state;
  if (frame.type === "review_resolved") {
    fx.push({ type: "reviewed", decision: frame.decision });
    return updateById(state, target.id, (m) => resolve(m, frame.decision, frame.text || "", frame.replaces, frame.segments));
  }
  if (isFinal(target)) return state;
  switch (frame.type) {
    case "delta":
      return updateById(state, target.id, (m) => appendText(m, frame.text || ""));
    case "checking":
      return Number.isInteger(frame.pending_chars)
        ? updateById(state, target.id, (m) => ({ ...m, checking: frame.pending_chars }))
        : state;
    case "held":
      return updateById(state, target.id, (m) => hold(m, frame.segment, frame.placeholder));
    case "error":
      return updateById(state, target.id, (m) => ({ ...m, error: { code: frame.code, detail: frame.detail || "" } }));
    case "done":
      return onDone(state, target, frame, fx);
    default:
      return state;
  }
}

function onTurnStarted(state, frame, fx, at) {
  const existing = findById(state, frame.message_id);
  if (existing && isFinal(existing)) return state;
  if (!findById(state, frame.user_message_id)) {
    if (matchesPending(state, frame)) {
      const { key } = state.pending;
      state = { ...state, pending: null, ownReply: frame.message_id };
      state = updateByKey(state, key, (m) => ({ ...m, id: frame.user_message_id, status: "sent", code: null }));
    } else {
      // Sent from another tab or device: show the question too.
      state = append(state, userMessage({ id: frame.user_message_id, text: frame.user_text || "", at }));
    }
  }
  // Regenerate, edit and resend: the exchange they replace goes from the page.
  for (const id of Array.isArray(frame.supersedes) ? frame.supersedes : []) {
    state = updateById(state, id, (m) => ({ ...m, superseded: true }));
  }
  if (!existing) state = append(state, reply({ id: frame.message_id, replyTo: frame.user_message_id, at }));
  fx.push({ type: "turn_started", conversationId: frame.conversation_id });
  return { ...state, running: frame.message_id, stopRequested: false };
}

function onDone(state, target, frame, fx) {
  state = updateById(state, target.id, (m) => ({
    ...m,
    status: frame.status,
    error: frame.status === "failed" && !m.error ? { code: "internal", detail: "" } : m.error,
    finishReason: frame.finish_reason || null,
    reason: typeof frame.reason === "string" ? frame.reason : "",
    checking: null,
  }));
  fx.push({ type: "done", status: frame.status });
  if (frame.status === "refused" && state.ownReply === target.id) {
    // Our own message was refused: it goes back in the box, to be edited.
    const question = findById(state, target.replyTo);
    if (question) fx.push({ type: "refused", text: question.text, reason: frame.reason || "" });
  }
  return { ...state, running: state.running === frame.message_id ? null : state.running, stopRequested: false };
}

function appendText(m, text) {
  const last = m.segments[m.segments.length - 1];
  if (last && last.kind === "released") {
    return { ...m, segments: [...m.segments.slice(0, -1), { kind: "released", text: last.text + text }] };
  }
  return { ...m, segments: [...m.segments, { kind: "released", text }] };
}

/** `held`: one placeholder per held segment; `index` counts held segments (0-based), so a later
 * chunk of a segment already shown adds nothing. */
function hold(m, index, placeholder) {
  const heldSoFar = m.segments.filter((s) => s.kind !== "released").length;
  if (Number.isInteger(index) && index < heldSoFar) return m;
  return { ...m, segments: [...m.segments, { kind: "held", placeholder }] };
}

/** `review_resolved`: each held part now reads its entry of `perSegment` (the frame's
 * `segments`), in place, exactly as a reload's snapshot shows it. Without `perSegment` (an older
 * server) the first held part reads `text` and the others go. With `replaces: "reply"` (a flagged
 * reply, shown before review, then rejected or edited) the whole reply now reads `text`. An
 * approved flagged reply changes nothing. */
function resolve(m, decision, text, replaces = "held", perSegment = null) {
  if (replaces === "reply") {
    return { ...m, segments: [{ kind: "resolved", text, decision, hidden: false }] };
  }
  const heldCount = m.segments.filter((s) => s.kind !== "released").length;
  if (Array.isArray(perSegment) && perSegment.length > 0 && perSegment.length === heldCount) {
    let n = 0;
    const segments = m.segments.map((s) =>
      s.kind === "released" ? s : { kind: "resolved", text: String(perSegment[n++] ?? ""), decision, hidden: false },
    );
    return { ...m, segments };
  }
  if (!m.segments.some((s) => s.kind !== "released") && !text) return m;
  let replaced = false;
  const segments = m.segments.map((s) => {
    if (s.kind === "released") return s;
    const resolved = { kind: "resolved", text: replaced ? "" : text, decision, hidden: replaced };
    replaced = true;
    return resolved;
  });
  if (!replaced) segments.push({ kind: "resolved", text, decision, hidden: false }); // no placeholder known here
  return { ...m, segments };
}

/** An `error` answering one of our frames (not a conversation event). */
function onRequestError(state, frame, fx) {
  if (typeof frame.message_id === "number" && frame.code !== "busy") {
    // Stopping a reply that has just finished: its done frame tells the rest.
    return { ...state, stopRequested: false };
  }
  if (state.pending) {
    const { key } = state.pending;
    state = updateByKey({ ...state, pending: null }, key, (m) => ({ ...m, status: "unsent", code: frame.code }));
    if (frame.code === "busy" && typeof frame.message_id === "number") state = { ...state, running: frame.message_id };
    fx.push({ type: "unsent", code: frame.code });
    return state;
  }
  fx.push({ type: "request_error", code: frame.code });
  return state;
}

// --- Sending ---------------------------------------------------------------------------------------

function send(state, text, clientMsgId, fx, at = null, extra = null) {
  if (state.running || state.pending) return state;
  const status = state.socket !== null ? "sending" : "queued";
  state = append(state, userMessage({ text, status, clientMsgId, at, extra }));
  return flush({ ...state, pending: { key: `c${clientMsgId}`, sentOn: null, resent: false } }, fx);
}

/** Send the pending message on the open socket, once per socket (the server de-duplicates by
 * client_msg_id, so a resend after a reconnect starts nothing twice). */
function flush(state, fx) {
  const pending = state.pending;
  if (!pending || state.socket === null || pending.sentOn === state.socket) return state;
  const message = findByKey(state, pending.key);
  fx.push({
    type: "send",
    frame: {
      type: "user_message",
      text: message.text,
      conversation_id: state.conversationId,
      client_msg_id: message.clientMsgId,
      ...(message.extra || {}),
    },
  });
  state = { ...state, pending: { key: pending.key, sentOn: state.socket, resent: pending.sentOn !== null } };
  return updateByKey(state, pending.key, (m) => ({ ...m, status: "sending" }));
}

function socketClosed(state) {
  state = { ...state, socket: null };
  return state.pending ? updateByKey(state, state.pending.key, (m) => ({ ...m, status: "queued" })) : state;
}

/** "Try again" on a message the server refused: send it again, same client_msg_id. */
function resend(state, key, fx) {
  const message = findByKey(state, key);
  if (state.pending || state.running || !message || message.status !== "unsent") return state;
  state = { ...state, pending: { key, sentOn: null, resent: false } };
  state = updateByKey(state, key, (m) => ({ ...m, status: state.socket !== null ? "sending" : "queued", code: null }));
  return flush(state, fx);
}

/** "Retry" on a failed reply: send its question again as a new message. */
function retry(state, messageId, clientMsgId, fx, at) {
  const failed = findById(state, messageId);
  const text = failed && failed.role === "assistant" ? questionOf(state, failed) : null;
  if (text === null || state.pending || state.running) return state;
  state = updateById(state, messageId, (m) => ({ ...m, retried: true }));
  return send(state, text, clientMsgId, fx, at);
}

/** "Continue" on a reply cut off at the length limit: a new turn asking for the rest. */
function continueReply(state, messageId, text, clientMsgId, fx, at) {
  const cut = findById(state, messageId);
  if (!cut || !canContinue(state, cut) || state.conversationId === null) return state;
  return send(state, text, clientMsgId, fx, at, { continue_of: messageId });
}

/** "Regenerate" on the last reply: its question again; the server supersedes the pair. */
function regenerate(state, messageId, clientMsgId, fx, at) {
  const last = findById(state, messageId);
  if (!last || !canRegenerate(state, last) || state.conversationId === null) return state;
  return send(state, questionOf(state, last), clientMsgId, fx, at, { regenerate_of: messageId });
}

/** Edit and resend the last user message. */
function edit(state, messageId, text, clientMsgId, fx, at) {
  const message = editableMessage(state);
  if (!message || message.id !== messageId || !text.trim() || state.conversationId === null) return state;
  return send(state, text, clientMsgId, fx, at, { edit_of: messageId });
}

function stop(state, fx) {
  if (!state.running || state.stopRequested) return state;
  fx.push({ type: "send", frame: { type: "stop", message_id: state.running } });
  return { ...state, stopRequested: true };
}
