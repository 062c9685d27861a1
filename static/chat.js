/* Guarded chat: the web client of WebSocket protocol v1 (DESIGN §4).
 *
 * Safety: model and user text only ever reaches the page through textContent or Text nodes;
 * nothing here builds HTML from strings.
 *
 * Delivery: the page starts from a snapshot (GET /api/conversations/<id>/), then subscribes
 * with the snapshot's resume_after and follows live. Every conversation event carries a
 * contiguous seq; frames at or below the last seq seen are dropped, and turn_started/delta/
 * held/done for a message already in a final state are ignored, so each piece of text is
 * shown once however often the socket drops.
 */
"use strict";

(() => {
  const FINAL = new Set(["complete", "held", "stopped", "failed", "refused"]);
  const ERROR_TEXT = {
    bad_request: "That message couldn't be sent as it is. Please edit it and try again.",
    too_large: "That message is too long to send. Please shorten it and try again.",
    rate_limited: "You're sending messages very quickly. Wait a moment, then try again.",
    unauthorized: "You're signed out. Sign in again to continue.",
    not_found: "This conversation can't be found. It may have been deleted.",
    busy: "A reply is still being written in this conversation. Wait for it to finish, or stop it.",
    backend_overloaded: "The assistant is busy right now. Please try again in a moment.",
    backend_unavailable: "The assistant can't be reached right now. Please try again shortly.",
    backend_timeout: "The assistant took too long to answer. Please try again.",
    backend_validation: "The assistant couldn't accept this conversation (it may be too long). Try a shorter message or start a new conversation.",
    backend_error: "The assistant ran into a problem while writing this reply. Please try again.",
    internal: "Something went wrong on our side. Please try again.",
  };
  const STATUS_LABEL = {
    sending: "Sending…",
    queued: "Waiting for connection…",
    unsent: "Not sent",
    streaming: "Generating",
    complete: "Complete",
    held: "Held for review",
    reviewed: "Reviewed",
    stopped: "Stopped",
    failed: "Failed",
    refused: "Not answered",
  };
  const DECISION_LABEL = {
    approved: "Released after review",
    edited: "Edited by our review team",
    rejected: "Removed by our review team",
  };
  const HEARTBEAT_MS = 20000;
  const PONG_TIMEOUT_MS = 10000;
  const STICK_THRESHOLD_PX = 72;

  const $ = (selector) => document.querySelector(selector);
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

  const ui = {
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
  };

  const state = {
    conversationId: page.conversation_id,
    lastSeq: 0,
    messages: new Map(), // message id -> view
    pending: null, // the user's message until its turn_started arrives
    running: null, // id of the reply being generated in this conversation
    stopRequested: false,
    signedOut: false,
  };

  // --- Small DOM helpers (text only, never HTML) ---------------------------------------

  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) if (child) el.append(child);
    return el;
  }

  function icon(name) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    const use = document.createElementNS(ns, "use");
    use.setAttribute("href", `#icon-${name}`);
    svg.append(use);
    return svg;
  }

  function uuid() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16)); // works outside secure contexts too
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function announce(text) {
    ui.announcer.textContent = "";
    // A new text node in a live region is read even when the words repeat.
    requestAnimationFrame(() => { ui.announcer.textContent = text; });
  }

  function errorText(code) {
    return ERROR_TEXT[code] || ERROR_TEXT.internal;
  }

  function titleFrom(text) {
    const line = text.split(/\s+/).filter(Boolean).join(" ");
    return line.length <= 60 ? line : `${line.slice(0, 59)}…`;
  }

  // --- Scrolling: keep the newest text in view unless the user scrolled up ---------------

  let stickToBottom = true;

  function nearBottom() {
    const s = ui.scroll;
    return s.scrollHeight - s.scrollTop - s.clientHeight < STICK_THRESHOLD_PX;
  }

  ui.scroll.addEventListener("scroll", () => {
    stickToBottom = nearBottom();
    if (stickToBottom) ui.jump.hidden = true;
  }, { passive: true });

  function contentChanged() {
    if (stickToBottom) {
      ui.scroll.scrollTop = ui.scroll.scrollHeight;
    } else if (!nearBottom()) {
      ui.jump.hidden = false;
    }
  }

  function scrollToLatest() {
    stickToBottom = true;
    ui.jump.hidden = true;
    ui.scroll.scrollTop = ui.scroll.scrollHeight;
  }

  ui.jump.addEventListener("click", () => { scrollToLatest(); ui.input.focus(); });

  // --- Message views -----------------------------------------------------------------

  function statusChip(status) {
    const chip = h("span", { class: "chip", "data-status": status });
    chip.append(h("span", { class: "chip__dot", "aria-hidden": "true" }), h("span", { class: "chip__label", text: STATUS_LABEL[status] || status }));
    return chip;
  }

  function setChip(chip, status) {
    chip.dataset.status = status;
    chip.querySelector(".chip__label").textContent = STATUS_LABEL[status] || status;
  }

  class UserView {
    constructor(text, { id = null, status = "sent" } = {}) {
      this.id = id;
      this.role = "user";
      this.text = text;
      this.bubble = h("div", { class: "msg__bubble msg__text" });
      this.bubble.textContent = text;
      this.footer = h("div", { class: "msg__footer" });
      this.el = h("article", { class: "msg msg--user", "aria-label": "You said" }, this.bubble, this.footer);
      if (id) this.el.dataset.messageId = id;
      this.setStatus(status);
    }

    setId(id) {
      this.id = id;
      this.el.dataset.messageId = id;
      state.messages.set(id, this);
    }

    setStatus(status, { code = null, onRetry = null } = {}) {
      this.status = status;
      this.el.dataset.status = status;
      this.footer.replaceChildren();
      if (status === "sending" || status === "queued") {
        this.footer.append(statusChip(status));
      } else if (status === "unsent") {
        this.footer.append(
          h("span", { class: "msg__unsent", role: "alert" }, icon("alert"), h("span", { text: `Not sent. ${errorText(code)}` })),
        );
        if (onRetry) {
          this.footer.append(h("button", { type: "button", class: "button button--small button--secondary", onclick: onRetry }, icon("retry"), "Try again"));
        }
      }
    }
  }

  class AssistantView {
    constructor({ id, status = "streaming", replyTo = null }) {
      this.id = id;
      this.role = "assistant";
      this.replyTo = replyTo;
      this.segments = []; // [{kind, el, node}]
      this.textEl = h("div", { class: "msg__text" });
      this.typing = h("div", { class: "typing", "aria-hidden": "true" }, h("span"), h("span"), h("span"));
      this.notice = h("div", { class: "notice", hidden: true });
      this.chip = statusChip(status);
      this.ratingEl = h("div", { class: "rating", hidden: true });
      this.footer = h("div", { class: "msg__footer" }, this.chip, this.ratingEl);
      this.main = h("div", { class: "msg__main" }, this.textEl, this.typing, this.notice, this.footer);
      const avatar = h("div", { class: "msg__avatar", "aria-hidden": "true" });
      avatar.append(icon("shield"));
      this.el = h("article", { class: "msg msg--assistant", "data-message-id": id, "aria-label": "Assistant replied" }, avatar, this.main);
      this.rating = null;
      this.setStatus(status);
    }

    get isFinal() {
      return FINAL.has(this.status);
    }

    get hasText() {
      return this.segments.some((s) => s.kind !== "released" || s.node.data.length > 0);
    }

    setStatus(status) {
      this.status = status;
      this.el.dataset.status = status;
      this.el.setAttribute("aria-busy", status === "streaming" ? "true" : "false");
      const reviewed = status === "held" && this.segments.some((s) => s.kind === "resolved") && !this.segments.some((s) => s.kind === "held");
      setChip(this.chip, reviewed ? "reviewed" : status);
      this.typing.hidden = !(status === "streaming" && !this.hasText);
      this.renderRating();
    }

    appendDelta(text) {
      const last = this.segments[this.segments.length - 1];
      if (last && last.kind === "released") {
        last.node.appendData(text);
      } else {
        this.addReleased(text);
      }
      this.typing.hidden = true;
    }

    addReleased(text) {
      const node = document.createTextNode(text);
      const el = h("span", { class: "seg" });
      el.append(node);
      this.textEl.append(el);
      this.segments.push({ kind: "released", el, node });
    }

    heldElement(placeholder) {
      const label = (placeholder || page.placeholder || "held for review").replace(/^\[|\]$/g, "").trim();
      return h(
        "span",
        { class: "seg seg--held", role: "note", title: "A person will review this part of the reply." },
        icon("shield"),
        h("span", { class: "seg__label", text: label.charAt(0).toUpperCase() + label.slice(1) }),
        h("span", { class: "seg__hint", text: "A person will check this part shortly." }),
      );
    }

    /** `held`: one placeholder per held segment; `index` counts held segments (0-based). */
    setHeld(index, placeholder) {
      const heldSoFar = this.segments.filter((s) => s.kind !== "released").length;
      if (Number.isInteger(index) && index < heldSoFar) return; // that placeholder is shown already
      const segment = { kind: "held", el: this.heldElement(placeholder), node: null };
      this.textEl.append(segment.el);
      this.segments.push(segment);
      this.typing.hidden = true;
    }

    addResolved(text, decision) {
      const el = this.resolvedElement(text, decision);
      this.textEl.append(el);
      this.segments.push({ kind: "resolved", el, node: null });
    }

    resolvedElement(text, decision) {
      const label = DECISION_LABEL[decision] || "Reviewed by our team";
      const el = h("span", { class: "seg seg--resolved", "data-decision": decision || "approved", title: label });
      el.textContent = text;
      return el;
    }

    /** `review_resolved`: the held part(s) now read `text`. With a `segment` index only that
     * held segment changes; without one, the first placeholder takes the text and the others go.
     * `replaces: "reply"` (a flagged reply, shown before review, then rejected or edited): the
     * whole reply now reads `text`. An approved flagged reply changes nothing on screen. */
    resolve(decision, text, index = null, replaces = "held") {
      if (replaces === "reply") {
        this.segments.forEach((segment) => segment.el.remove());
        this.segments = [];
        this.addResolved(text, decision);
        this.setStatus(this.status);
        return;
      }
      if (!this.segments.some((s) => s.kind !== "released") && !text) return; // approved, flagged
      let heldIndex = -1;
      let replaced = false;
      this.segments.forEach((segment, i) => {
        if (segment.kind === "released") return;
        heldIndex += 1;
        if (Number.isInteger(index) && heldIndex !== index) return;
        const el = this.resolvedElement(replaced ? "" : text, decision);
        if (replaced) el.hidden = true;
        segment.el.replaceWith(el);
        this.segments[i] = { kind: "resolved", el, node: null };
        replaced = true;
      });
      if (!replaced) this.addResolved(text, decision); // no placeholder known here
      this.setStatus(this.status);
    }

    showError(code, detail) {
      this.errorCode = code;
      const plain = errorText(code);
      this.notice.replaceChildren(icon("alert"));
      const body = h("div", { class: "notice__body" }, h("p", { class: "notice__title", text: plain }));
      if (detail && detail !== plain) body.append(h("p", { class: "notice__detail", text: detail }));
      this.notice.append(body);
      const userText = this.userText();
      if (userText !== null) {
        this.retryButton = h("button", {
          type: "button",
          class: "button button--small button--secondary notice__retry",
          onclick: () => retry(this),
        }, icon("retry"), "Retry");
        this.notice.append(this.retryButton);
      }
      this.notice.dataset.kind = "error";
      this.notice.setAttribute("role", "alert");
      this.notice.hidden = false;
    }

    showRefused() {
      if (this.hasText) return;
      this.notice.replaceChildren(icon("shield"), h("div", { class: "notice__body" },
        h("p", { class: "notice__title", text: "This message wasn't sent to the assistant because it didn't pass our safety checks." }),
        h("p", { class: "notice__detail", text: "Try rephrasing it." })));
      this.notice.dataset.kind = "info";
      this.notice.hidden = false;
    }

    userText() {
      const user = this.replyTo ? state.messages.get(this.replyTo) : null;
      return user ? user.text : null;
    }

    // --- rating --------------------------------------------------------------------

    setRating(rating) {
      this.rating = rating;
      this.renderRating();
    }

    renderRating() {
      if (!this.ratingEl) return;
      const rateable = ["complete", "stopped", "held"].includes(this.status) && this.hasText;
      this.ratingEl.hidden = !rateable;
      if (!rateable) return;
      if (!this.ratingBuilt) this.buildRating();
      const value = this.rating ? this.rating.value : 0;
      this.upButton.setAttribute("aria-pressed", String(value === 1));
      this.downButton.setAttribute("aria-pressed", String(value === -1));
      this.moreButton.hidden = !value || !this.commentForm.hidden;
      this.moreButton.textContent = this.rating && this.rating.comment ? "Edit comment" : "Add a comment";
    }

    buildRating() {
      this.ratingBuilt = true;
      this.upButton = h("button", { type: "button", class: "icon-button rating__button", "aria-label": "Good reply", title: "Good reply", "data-value": "1", onclick: () => this.rate(1) }, icon("thumb-up"));
      this.downButton = h("button", { type: "button", class: "icon-button rating__button", "aria-label": "Bad reply", title: "Bad reply", "data-value": "-1", onclick: () => this.rate(-1) }, icon("thumb-down"));
      this.ratingStatus = h("span", { class: "rating__status", role: "status" });
      const commentId = `rating-comment-${this.id}`;
      this.commentInput = h("textarea", { id: commentId, class: "rating__comment", rows: "2", maxlength: "2000", placeholder: "Optional" });
      this.commentForm = h("form", { class: "rating__form", hidden: true },
        h("label", { for: commentId, class: "rating__label", text: "Tell us more" }),
        this.commentInput,
        h("div", { class: "rating__actions" },
          h("button", { type: "button", class: "button button--small button--ghost", onclick: () => this.closeComment() }, "Close"),
          h("button", { type: "submit", class: "button button--small button--secondary" }, "Save comment")),
      );
      this.commentForm.addEventListener("submit", (event) => {
        event.preventDefault();
        this.saveRating(this.rating ? this.rating.value : 1, this.commentInput.value, "Comment saved. Thank you!").then((ok) => { if (ok) this.closeComment(); });
      });
      this.ratingEl.setAttribute("role", "group");
      this.ratingEl.setAttribute("aria-label", "Rate this reply");
      this.moreButton = h("button", { type: "button", class: "rating__more", hidden: true, onclick: () => this.openComment() }, "Add a comment");
      this.ratingEl.append(this.upButton, this.downButton, this.ratingStatus, this.moreButton);
      this.main.append(this.commentForm);
    }

    async rate(value) {
      const comment = this.rating ? this.rating.comment : "";
      await this.saveRating(value, comment, "Thanks for the feedback.");
    }

    openComment() {
      this.commentInput.value = (this.rating && this.rating.comment) || "";
      this.commentForm.hidden = false;
      this.moreButton.hidden = true;
      this.commentInput.focus();
      contentChanged();
    }

    closeComment() {
      this.commentForm.hidden = true;
      this.renderRating();
      (this.rating && this.rating.value === -1 ? this.downButton : this.upButton).focus();
    }

    async saveRating(value, comment, thanks) {
      this.ratingStatus.textContent = "Saving…";
      try {
        const response = await fetch(`/api/messages/${this.id}/rating`, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken, Accept: "application/json" },
          body: JSON.stringify({ value, comment }),
        });
        if (!response.ok) throw new Error(String(response.status));
        this.rating = await response.json();
        this.ratingStatus.textContent = thanks;
        this.renderRating();
        return true;
      } catch (err) {
        this.ratingStatus.textContent = "Couldn't save your rating. Please try again.";
        return false;
      }
    }
  }

  function appendView(view) {
    ui.welcome.hidden = true;
    ui.messages.append(view.el);
    if (view.id) state.messages.set(view.id, view);
  }

  // --- Snapshot --------------------------------------------------------------------

  function renderSnapshotMessage(m) {
    if (m.role === "user") {
      const text = m.segments.map((s) => s.text).join("");
      appendView(new UserView(text, { id: m.id }));
      return;
    }
    const view = new AssistantView({ id: m.id, status: m.status, replyTo: m.reply_to });
    for (const segment of m.segments) {
      if (segment.kind === "released") {
        if (segment.text) view.addReleased(segment.text);
      } else if (segment.resolved) {
        view.addResolved(segment.text, segment.decision);
      } else {
        view.setHeld(null, segment.placeholder);
      }
    }
    appendView(view);
    view.setStatus(m.status);
    if (m.status === "failed") view.showError(m.error_code || "internal", m.error_detail);
    if (m.status === "refused") view.showRefused();
    if (m.rating) view.setRating(m.rating);
    if (m.status === "streaming") state.running = m.id;
  }

  async function loadSnapshot() {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await fetch(`/api/conversations/${state.conversationId}/`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (response.status === 401) return signedOut();
        if (response.status === 404) {
          ui.loading.hidden = true;
          showBanner(ERROR_TEXT.not_found);
          return false;
        }
        if (!response.ok) throw new Error(String(response.status));
        const snapshot = await response.json();
        ui.loading.hidden = true;
        for (const message of snapshot.messages) renderSnapshotMessage(message);
        state.lastSeq = snapshot.resume_after;
        if (!snapshot.messages.length) ui.welcome.hidden = false;
        updateComposer();
        scrollToLatest();
        return true;
      } catch (err) {
        ui.loading.textContent = "Couldn't load this conversation. Retrying…";
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt)));
      }
    }
  }

  // --- Frames from the server --------------------------------------------------------

  function matchesPending(frame) {
    const pending = state.pending;
    return Boolean(pending) && (typeof frame.user_text !== "string" || frame.user_text === pending.text);
  }

  function adoptConversation(conversationId, title) {
    state.conversationId = conversationId;
    state.lastSeq = 0;
    const url = `/c/${conversationId}/`;
    if (location.pathname !== url) history.replaceState(null, "", url);
    ui.title.textContent = title;
    document.title = `${title} · Guarded chat`;
    addToSidebar(conversationId, title);
  }

  function addToSidebar(conversationId, title) {
    let link = ui.list.querySelector(`a[data-conversation-id="${conversationId}"]`);
    let item;
    if (link) {
      item = link.closest("li");
    } else {
      link = h("a", { class: "conversation-link", href: `/c/${conversationId}/`, "data-conversation-id": conversationId },
        h("span", { class: "conversation-link__title", text: title }),
        h("time", { class: "conversation-link__time", datetime: new Date().toISOString(), text: "Now" }));
      item = h("li", {}, link);
    }
    for (const current of ui.list.querySelectorAll("[aria-current]")) current.removeAttribute("aria-current");
    link.setAttribute("aria-current", "page");
    ui.list.prepend(item);
    ui.listEmpty.hidden = true;
  }

  function onFrame(frame) {
    if (!frame || typeof frame.type !== "string") return;
    if (frame.type === "pong") return;
    if (frame.type === "error" && typeof frame.seq !== "number") {
      onRequestError(frame);
      return;
    }
    if (typeof frame.conversation_id !== "number") return;
    if (state.conversationId === null) {
      // A new conversation: the first turn_started of our own message names it.
      if (frame.type !== "turn_started" || !matchesPending(frame)) return;
      adoptConversation(frame.conversation_id, titleFrom(state.pending.text));
      if (state.pending.resent) subscribe(frame.seq - 1); // an idempotent resend is not followed
    }
    if (frame.conversation_id !== state.conversationId) return;
    if (typeof frame.seq === "number") {
      if (frame.seq <= state.lastSeq) return; // already shown
      state.lastSeq = frame.seq;
    }
    const view = state.messages.get(frame.message_id);
    switch (frame.type) {
      case "turn_started":
        onTurnStarted(frame, view);
        break;
      case "delta":
        if (view && view.role === "assistant" && !view.isFinal) {
          view.appendDelta(frame.text || "");
          contentChanged();
        }
        break;
      case "held":
        if (view && view.role === "assistant" && !view.isFinal) {
          view.setHeld(frame.segment, frame.placeholder);
          contentChanged();
        }
        break;
      case "review_resolved":
        if (view && view.role === "assistant") {
          view.resolve(frame.decision, frame.text || "", frame.segment, frame.replaces);
          announce(DECISION_LABEL[frame.decision] || "A held part of a reply was reviewed.");
          contentChanged();
        }
        break;
      case "error":
        if (view && view.role === "assistant" && !view.isFinal) view.showError(frame.code, frame.detail);
        break;
      case "done":
        if (view && view.role === "assistant" && !view.isFinal) onDone(frame, view);
        break;
      default:
        break;
    }
  }

  function onTurnStarted(frame, existing) {
    if (existing && existing.isFinal) return;
    if (!state.messages.has(frame.user_message_id)) {
      if (matchesPending(frame)) {
        const pending = state.pending;
        state.pending = null;
        pending.view.setStatus("sent");
        pending.view.setId(frame.user_message_id);
      } else {
        appendView(new UserView(frame.user_text || "", { id: frame.user_message_id }));
      }
    } else if (matchesPending(frame) && state.pending.view === state.messages.get(frame.user_message_id)) {
      state.pending = null;
    }
    if (!existing) {
      appendView(new AssistantView({ id: frame.message_id, status: "streaming", replyTo: frame.user_message_id }));
    }
    state.running = frame.message_id;
    state.stopRequested = false;
    moveToTop(frame.conversation_id);
    updateComposer();
    contentChanged();
  }

  function onDone(frame, view) {
    view.setStatus(frame.status);
    if (frame.status === "failed" && view.notice.hidden) view.showError("internal", "");
    if (frame.status === "refused") view.showRefused();
    if (state.running === frame.message_id) state.running = null;
    state.stopRequested = false;
    updateComposer();
    contentChanged();
    announce({
      complete: "Reply complete.",
      held: "Reply finished; part of it is held for review.",
      stopped: "Reply stopped.",
      failed: "The reply failed.",
      refused: "Your message was not answered.",
    }[frame.status] || "Reply finished.");
  }

  function moveToTop(conversationId) {
    const link = ui.list.querySelector(`a[data-conversation-id="${conversationId}"]`);
    if (link && link.closest("li") !== ui.list.firstElementChild) ui.list.prepend(link.closest("li"));
  }

  /** An error answering one of our frames (not a conversation event). */
  function onRequestError(frame) {
    const stopError = typeof frame.message_id === "number" && frame.code !== "busy";
    if (stopError) {
      // Stopping a reply that has just finished: its done frame tells the rest.
      state.stopRequested = false;
      updateComposer();
      return;
    }
    if (frame.code === "unauthorized") {
      signedOut();
      return;
    }
    const pending = state.pending;
    if (pending) {
      state.pending = null;
      pending.view.setStatus("unsent", { code: frame.code, onRetry: () => resendUnsent(pending) });
      if (frame.code === "busy" && typeof frame.message_id === "number") state.running = frame.message_id;
      updateComposer();
      contentChanged();
      announce(`Not sent. ${errorText(frame.code)}`);
      return;
    }
    showBanner(errorText(frame.code));
  }

  // --- Sending -----------------------------------------------------------------------

  function sendMessage(text) {
    const pending = {
      clientMsgId: uuid(),
      text,
      view: new UserView(text, { status: isOpen() ? "sending" : "queued" }),
      socket: null,
      resent: false,
    };
    state.pending = pending;
    appendView(pending.view);
    scrollToLatest();
    flushPending();
    updateComposer();
  }

  function flushPending() {
    const pending = state.pending;
    if (!pending || !isOpen() || pending.socket === conn.ws) return;
    pending.resent = pending.socket !== null;
    pending.socket = conn.ws;
    pending.view.setStatus("sending");
    sendFrame({ type: "user_message", text: pending.text, conversation_id: state.conversationId, client_msg_id: pending.clientMsgId });
  }

  function resendUnsent(pending) {
    if (state.pending || state.running) return;
    pending.socket = null;
    state.pending = pending;
    pending.view.setStatus(isOpen() ? "sending" : "queued");
    flushPending();
    updateComposer();
  }

  function retry(failedView) {
    const text = failedView.userText();
    if (text === null || state.pending || state.running) return;
    if (failedView.retryButton) failedView.retryButton.remove();
    sendMessage(text);
  }

  function requestStop() {
    if (!state.running || state.stopRequested) return;
    state.stopRequested = true;
    sendFrame({ type: "stop", message_id: state.running });
    updateComposer();
  }

  function updateComposer() {
    const generating = Boolean(state.running) || Boolean(state.pending);
    ui.stop.hidden = !generating;
    ui.stop.disabled = !state.running || state.stopRequested || !isOpen();
    ui.stop.lastChild.textContent = state.stopRequested ? "Stopping…" : "Stop";
    ui.send.hidden = generating;
    ui.send.disabled = generating || !ui.input.value.trim() || state.signedOut;
    ui.app.dataset.generating = String(generating);
    ui.hint.textContent = generating
      ? "Generating a reply · Esc or Stop to stop it"
      : "Enter to send · Shift+Enter for a new line";
  }

  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.input.value;
    if (!text.trim() || state.running || state.pending || state.signedOut) return;
    ui.input.value = "";
    autosize();
    sendMessage(text);
  });

  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      ui.composer.requestSubmit();
    } else if (event.key === "Escape" && state.running) {
      event.preventDefault();
      requestStop();
    }
  });

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = `${Math.min(ui.input.scrollHeight, 220)}px`;
    updateComposer();
  }

  ui.input.addEventListener("input", autosize);
  ui.stop.addEventListener("click", () => { requestStop(); ui.input.focus(); });

  // --- Connection: reconnect with backoff, resubscribe with the last seq --------------

  const conn = { ws: null, attempt: 0, timer: null, heartbeat: null, pingAt: 0, lastFrameAt: 0, connects: 0 };

  function isOpen() {
    return Boolean(conn.ws) && conn.ws.readyState === WebSocket.OPEN;
  }

  function sendFrame(frame) {
    if (isOpen()) conn.ws.send(JSON.stringify(frame));
  }

  function subscribe(afterSeq) {
    sendFrame({ type: "subscribe", conversation_id: state.conversationId, after_seq: Math.max(0, afterSeq) });
  }

  function backoffDelay(attempt) {
    const base = Math.min(15000, 500 * 2 ** attempt);
    return base / 2 + Math.random() * (base / 2); // jitter: reconnecting clients don't stampede
  }

  function setConnection(kind, label) {
    ui.connection.dataset.state = kind;
    ui.connectionLabel.textContent = label;
    ui.app.dataset.connection = kind;
  }

  function connect() {
    clearTimeout(conn.timer);
    conn.timer = null;
    if (state.signedOut || (conn.ws && conn.ws.readyState <= WebSocket.OPEN)) return;
    setConnection("connecting", conn.connects ? "Reconnecting…" : "Connecting…");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/chat/`);
    let opened = false;
    conn.ws = ws;
    ws.addEventListener("open", () => {
      if (conn.ws !== ws) return;
      opened = true;
      conn.attempt = 0;
      conn.connects += 1;
      conn.lastFrameAt = Date.now();
      conn.pingAt = 0;
      ui.app.dataset.connects = String(conn.connects);
      setConnection("open", "Connected");
      hideBanner();
      if (state.conversationId !== null) subscribe(state.lastSeq);
      flushPending();
      updateComposer();
    });
    ws.addEventListener("message", (event) => {
      if (conn.ws !== ws) return;
      conn.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      onFrame(frame);
    });
    ws.addEventListener("close", () => {
      if (conn.ws !== ws) return;
      dropped(opened);
    });
  }

  function dropped(wasOpen) {
    conn.ws = null;
    if (state.pending) state.pending.view.setStatus("queued");
    updateComposer();
    if (!wasOpen) {
      // Refused before opening: maybe the session ended. Ask over HTTP, then carry on.
      checkSession().then((ok) => { if (ok) scheduleReconnect(); });
    } else {
      scheduleReconnect();
    }
  }

  function scheduleReconnect() {
    if (state.signedOut || conn.timer) return;
    const delay = backoffDelay(conn.attempt);
    conn.attempt += 1;
    setConnection("offline", "Reconnecting…");
    if (conn.attempt >= 3) {
      showBanner("Connection lost. We'll keep trying to reconnect; your reply keeps being written meanwhile.", {
        label: "Reconnect now",
        onClick: reconnectNow,
      });
    }
    conn.timer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (isOpen() || state.signedOut) return;
    if (conn.ws && conn.ws.readyState === WebSocket.CONNECTING) return;
    conn.attempt = 0;
    connect();
  }

  async function checkSession() {
    try {
      const response = await fetch("/api/conversations/", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.status === 401) {
        signedOut();
        return false;
      }
    } catch (err) {
      // Server unreachable: keep trying the socket.
    }
    return true;
  }

  function signedOut() {
    state.signedOut = true;
    clearTimeout(conn.timer);
    setConnection("offline", "Signed out");
    const next = encodeURIComponent(location.pathname);
    showBanner(ERROR_TEXT.unauthorized, { label: "Sign in", href: `/accounts/login/?next=${next}` });
    updateComposer();
    return false;
  }

  // A socket can die silently (laptop sleep, network change): ping, and reconnect on silence.
  conn.heartbeat = setInterval(() => {
    if (!isOpen()) return;
    const now = Date.now();
    if (conn.pingAt && conn.lastFrameAt < conn.pingAt && now - conn.pingAt > PONG_TIMEOUT_MS) {
      const ws = conn.ws;
      dropped(true);
      ws.close();
      return;
    }
    if (now - conn.lastFrameAt >= HEARTBEAT_MS) {
      conn.pingAt = now;
      sendFrame({ type: "ping" });
    }
  }, 5000);

  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    if (isOpen()) {
      conn.pingAt = Date.now();
      sendFrame({ type: "ping" });
    } else {
      reconnectNow();
    }
  });

  // --- Banner -------------------------------------------------------------------------

  function showBanner(text, action = null) {
    ui.banner.replaceChildren(icon("alert"), h("span", { class: "banner__text", text }));
    if (action && action.href) {
      ui.banner.append(h("a", { class: "button button--small button--secondary", href: action.href }, action.label));
    } else if (action) {
      ui.banner.append(h("button", { type: "button", class: "button button--small button--secondary", onclick: action.onClick }, action.label));
    }
    ui.banner.hidden = false;
  }

  function hideBanner() {
    ui.banner.hidden = true;
    ui.banner.replaceChildren();
  }

  // --- Sidebar on narrow screens ------------------------------------------------------

  function setSidebar(open) {
    ui.app.classList.toggle("sidebar-open", open);
    ui.menu.setAttribute("aria-expanded", String(open));
    ui.scrim.hidden = !open;
    if (open) {
      (ui.sidebar.querySelector("[aria-current]") || ui.sidebar.querySelector("a, button")).focus();
    } else {
      ui.menu.focus();
    }
  }

  ui.menu.addEventListener("click", () => setSidebar(true));
  ui.sidebarClose.addEventListener("click", () => setSidebar(false));
  ui.scrim.addEventListener("click", () => setSidebar(false));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && ui.app.classList.contains("sidebar-open")) setSidebar(false);
  });

  // --- Start -------------------------------------------------------------------------

  // Test and debugging hook: feed a frame as if it came from the server.
  window.chatApp = { handleFrame: onFrame, state };

  async function start() {
    updateComposer();
    if (state.conversationId !== null) {
      const ok = await loadSnapshot();
      if (!ok) return;
    }
    ui.app.dataset.ready = "true";
    connect();
    ui.input.focus({ preventScroll: true });
  }

  start();
})();
