/* Message views: render the reducer's messages into #messages. Text only (textContent and Text
 * nodes). Views keep no conversation state of their own; what the user does with them goes out
 * through callbacks:
 *   onResend(key)                      "Try again" on a message that was not sent
 *   onRetry(messageId)                 "Retry" on a failed reply
 *   onRate(messageId, value, comment, extra?)  -> Promise<boolean> (saved or not); extra is
 *                                      {reason, report: true} when a thumbs down is reported
 *   onGrow()                           a view made itself taller (the comment form opened)
 *   onContinue(messageId)              "Continue" on a reply cut off at the length limit
 *   onRegenerate(messageId)            "Regenerate" on the last reply
 *   onEdit(messageId, text)            the last user message, edited and resent
 * Replies render as Markdown (markdown.mjs: sanitized); everything else is text.
 */

import { h, icon } from "./dom.mjs";
import { copyButton, renderMarkdown } from "./markdown.mjs";
import {
  canContinue,
  canRegenerate,
  editableMessage,
  hasShownText,
  hasText,
  isFinal,
  questionOf,
  shownStatus,
  shownText,
} from "./reducer.mjs";
import {
  CHECKING_TEXT,
  CUT_OFF_TEXT,
  DECISION_OUTCOME,
  REFUSED_DETAIL,
  REFUSED_TITLE,
  REPORT_FAILED,
  REPORT_QUESTION,
  REPORT_REASONS,
  REPORT_SEND,
  REPORT_SENT,
  errorText,
  heldHint,
  messageTime,
  statusLabel,
} from "./text.mjs";

export class MessageList {
  constructor(container, { placeholder, ...callbacks }) {
    this.container = container;
    this.options = { placeholder, ...callbacks };
    this.views = new Map(); // message key -> view
  }

  /** Bring the list up to date with `state.messages` (messages are only ever added). */
  render(state) {
    for (const message of state.messages) {
      let view = this.views.get(message.key);
      if (!view) {
        view = message.role === "user" ? new UserView(message, this.options) : new ReplyView(message, this.options);
        this.views.set(message.key, view);
        this.container.append(view.el);
      }
      view.update(message, state);
      view.el.dataset.superseded = String(Boolean(message.superseded));
    }
  }
}

function statusChip(status) {
  return h(
    "span",
    { class: "chip", "data-status": status },
    h("span", { class: "chip__dot", "aria-hidden": "true" }),
    h("span", { class: "chip__label", text: statusLabel(status) }),
  );
}

class UserView {
  constructor(message, options) {
    this.options = options;
    this.message = null;
    this.bubble = h("div", { class: "msg__bubble msg__text" });
    this.bubble.textContent = message.text;
    this.footer = h("div", { class: "msg__footer" });
    this.time = h("time", { class: "msg__time" });
    this.editButton = h(
      "button",
      { type: "button", class: "copy-button", hidden: true, onclick: () => this.openEdit() },
      icon("edit"),
      "Edit",
    );
    this.meta = h("div", { class: "msg__meta" }, this.time, this.editButton);
    this.form = null;
    this.editable = false;
    this.el = h("article", { class: "msg msg--user", "aria-label": "You said" }, this.bubble, this.footer, this.meta);
  }

  update(message, state) {
    const before = this.message;
    const editable = editableMessage(state) === message;
    if (before === message && editable === this.editable) return;
    this.message = message;
    this.editable = editable;
    this.editButton.hidden = !editable;
    if (!editable && this.form) this.closeEdit();
    showTime(this.time, message.at);
    if (message.id !== null) this.el.dataset.messageId = message.id;
    if (before && before.status === message.status && before.code === message.code) return;
    this.el.dataset.status = message.status;
    this.footer.replaceChildren();
    if (message.status === "sending" || message.status === "queued") {
      this.footer.append(statusChip(message.status));
    } else if (message.status === "unsent") {
      this.footer.append(
        h("span", { class: "msg__unsent", role: "alert" }, icon("alert"), h("span", { text: `Not sent. ${errorText(message.code)}` })),
        h(
          "button",
          { type: "button", class: "button button--small button--secondary", onclick: () => this.options.onResend(message.key) },
          icon("retry"),
          "Try again",
        ),
      );
    }
  }

  openEdit() {
    const input = h("textarea", { class: "edit-form__input", "aria-label": "Edit your message", rows: "3" });
    input.value = this.message.text;
    this.form = h(
      "form",
      { class: "edit-form" },
      input,
      h(
        "div",
        { class: "edit-form__actions" },
        h("button", { type: "button", class: "button button--small button--ghost", onclick: () => this.closeEdit() }, "Cancel"),
        h("button", { type: "submit", class: "button button--small button--primary" }, "Send"),
      ),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (input.value.trim()) this.options.onEdit(this.message.id, input.value);
    });
    this.bubble.hidden = true;
    this.meta.hidden = true;
    this.el.insertBefore(this.form, this.footer);
    input.focus();
    this.options.onGrow();
  }

  closeEdit() {
    if (this.form) this.form.remove();
    this.form = null;
    this.bubble.hidden = false;
    this.meta.hidden = false;
  }
}

function showTime(el, at) {
  if (typeof at !== "number" || Number.isNaN(at)) {
    el.hidden = true;
    return;
  }
  const iso = new Date(at).toISOString();
  if (el.getAttribute("datetime") === iso) return;
  el.hidden = false;
  el.setAttribute("datetime", iso);
  el.textContent = messageTime(at);
  el.title = new Date(at).toLocaleString();
}

class ReplyView {
  constructor(message, options) {
    this.options = options;
    this.message = null;
    this.canRetry = false;
    this.rendered = []; // [{segment, el, node}] in the order of message.segments
    this.noticeFor = null; // what the notice shows now
    this.textEl = h("div", { class: "msg__text" });
    this.typing = h("div", { class: "typing", "aria-hidden": "true" }, h("span"), h("span"), h("span"));
    this.notice = h("div", { class: "notice", hidden: true });
    this.checking = h("p", { class: "msg__checking", role: "status", hidden: true });
    this.outcome = h("p", { class: "msg__outcome", hidden: true });
    this.cut = h("div", { class: "msg__cut", hidden: true });
    this.chip = statusChip(message.status);
    this.rating = new RatingView(message.id, options);
    this.time = h("time", { class: "msg__time" });
    this.copy = copyButton(() => shownText(this.message), "Copy reply");
    this.regenerateButton = h(
      "button",
      { type: "button", class: "copy-button", onclick: () => this.options.onRegenerate(this.message.id) },
      icon("retry"),
      "Regenerate",
    );
    this.actions = h("div", { class: "msg__actions" }, this.copy, this.regenerateButton);
    this.footer = h("div", { class: "msg__footer" }, this.chip, this.time, this.actions, this.rating.el);
    this.main = h(
      "div",
      { class: "msg__main" },
      this.textEl,
      this.typing,
      this.checking,
      this.notice,
      this.outcome,
      this.cut,
      this.footer,
    );
    const avatar = h("div", { class: "msg__avatar", "aria-hidden": "true" });
    avatar.append(icon("shield"));
    this.el = h(
      "article",
      { class: "msg msg--assistant", "data-message-id": message.id, "aria-label": "Assistant replied" },
      avatar,
      this.main,
    );
  }

  update(message, state) {
    const canRetry = Boolean(message.error) && !message.retried && questionOf(state, message) !== null;
    const offers = `${canRegenerate(state, message)}:${canContinue(state, message)}`;
    if (message === this.message && canRetry === this.canRetry && offers === this.offers) return;
    const before = this.message;
    this.message = message;
    this.offers = offers;
    showTime(this.time, message.at);
    const finished = isFinal(message);
    this.copy.hidden = !(finished && hasShownText(message));
    this.regenerateButton.hidden = !canRegenerate(state, message);
    this.renderCut(message, canContinue(state, message));
    this.renderOutcome(message);
    this.checking.hidden = !(message.status === "streaming" && !hasText(message) && message.checking !== null);
    if (!this.checking.hidden) this.checking.textContent = CHECKING_TEXT;
    if (!before || before.segments !== message.segments) this.renderSegments(message.segments);
    this.el.dataset.status = message.status;
    this.el.setAttribute("aria-busy", message.status === "streaming" ? "true" : "false");
    const shown = shownStatus(message);
    this.chip.dataset.status = shown;
    this.chip.querySelector(".chip__label").textContent = statusLabel(shown);
    this.typing.hidden = !(message.status === "streaming" && !hasText(message));
    this.renderNotice(message, canRetry);
    this.rating.render(message, this.main);
  }

  renderCut(message, canContinue) {
    const cut = message.finishReason === "length" && isFinal(message) && message.status !== "refused";
    this.cut.hidden = !cut;
    if (!cut) return;
    this.cut.replaceChildren(h("span", { text: CUT_OFF_TEXT }));
    if (canContinue) {
      this.cut.append(
        " ",
        h(
          "button",
          { type: "button", class: "button button--small button--secondary", onclick: () => this.options.onContinue(message.id) },
          "Continue",
        ),
      );
    }
  }

  renderOutcome(message) {
    const decisions = [...new Set(message.segments.filter((s) => s.kind === "resolved").map((s) => s.decision))];
    this.outcome.hidden = decisions.length === 0;
    if (decisions.length) {
      const words = decisions.map((d) => DECISION_OUTCOME[d] || DECISION_OUTCOME.approved).join(" ");
      this.outcome.replaceChildren(icon("shield"), h("span", { text: words }));
    }
  }

  renderSegments(segments) {
    segments.forEach((segment, i) => {
      const shown = this.rendered[i];
      if (shown && shown.segment === segment) return;
      if (shown && shown.segment.kind === "released" && segment.kind === "released") {
        // Streaming: each released sentence re-renders the same element in one synchronous
        // write (no frame shows it empty), so the text grows without flicker.
        renderMarkdown(shown.el, segment.text);
        shown.segment = segment;
        return;
      }
      const made = this.segmentElement(segment);
      if (shown) shown.el.replaceWith(made.el);
      else this.textEl.append(made.el);
      this.rendered[i] = made;
    });
    for (const gone of this.rendered.splice(segments.length)) gone.el.remove();
  }

  segmentElement(segment) {
    if (segment.kind === "released") {
      const el = h("div", { class: "seg md" });
      renderMarkdown(el, segment.text);
      return { segment, el };
    }
    if (segment.kind === "held") {
      const label = (segment.placeholder || this.options.placeholder || "held for review").replace(/^\[|\]$/g, "").trim();
      const el = h(
        "div",
        { class: "seg seg--held", role: "note" },
        icon("shield"),
        h("span", { class: "seg__label", text: label.charAt(0).toUpperCase() + label.slice(1) }),
        h("span", { class: "seg__hint", text: heldHint(this.options.reviewMinutes) }),
      );
      return { segment, el };
    }
    // A reviewer's text (or the rejection text, which may carry a support link): Markdown too.
    const el = h("div", { class: "seg seg--resolved md", "data-decision": segment.decision || "approved" });
    renderMarkdown(el, segment.text);
    el.hidden = Boolean(segment.hidden);
    return { segment, el };
  }

  renderNotice(message, canRetry) {
    const kind = message.error ? "error" : message.status === "refused" && !hasText(message) ? "refused" : null;
    const error = message.error;
    const same =
      this.noticeFor &&
      this.noticeFor.kind === kind &&
      (kind !== "error" || (this.noticeFor.code === error.code && this.noticeFor.detail === error.detail));
    if (same || (!kind && !this.noticeFor)) {
      // Retry is offered once: after it is used, its button goes and the notice stays as it is.
      if (!canRetry && this.retryButton) {
        this.retryButton.remove();
        this.retryButton = null;
      }
      this.canRetry = canRetry;
      return;
    }
    this.noticeFor = kind ? { kind, code: error && error.code, detail: error && error.detail } : null;
    this.canRetry = canRetry;
    this.retryButton = null;
    if (kind === "error") {
      const plain = errorText(error.code);
      this.notice.replaceChildren(icon("alert"));
      const body = h("div", { class: "notice__body" }, h("p", { class: "notice__title", text: plain }));
      if (error.detail && error.detail !== plain) body.append(h("p", { class: "notice__detail", text: error.detail }));
      this.notice.append(body);
      if (canRetry) {
        this.retryButton = h(
          "button",
          {
            type: "button",
            class: "button button--small button--secondary notice__retry",
            onclick: () => this.options.onRetry(message.id),
          },
          icon("retry"),
          "Retry",
        );
        this.notice.append(this.retryButton);
      }
      this.notice.dataset.kind = "error";
      this.notice.setAttribute("role", "alert");
      this.notice.hidden = false;
    } else if (kind === "refused") {
      // The server's reason when it gave one (done.reason), else the general words.
      this.notice.replaceChildren(
        icon("shield"),
        h(
          "div",
          { class: "notice__body" },
          h("p", { class: "notice__title", text: message.reason || REFUSED_TITLE }),
          h("p", { class: "notice__detail", text: message.reason ? "Your message is back in the box below, so you can edit it." : REFUSED_DETAIL }),
        ),
      );
      this.notice.dataset.kind = "info";
      this.notice.hidden = false;
    } else {
      this.notice.hidden = true;
    }
  }
}

/** Thumbs up/down and an optional comment under a finished reply that shows some text. A thumbs
 * down offers a reason and "Send to our review team" (a user report). */
class RatingView {
  constructor(messageId, options) {
    this.messageId = messageId;
    this.options = options;
    this.rating = null;
    this.built = false;
    // The report form opens when the user gives a thumbs down here, not on load.
    this.reportOpen = false;
    this.el = h("div", { class: "rating", hidden: true });
  }

  render(message, main) {
    this.rating = message.rating;
    // Only text the user has seen can be rated: not a placeholder alone.
    const rateable = ["complete", "stopped", "held"].includes(message.status) && hasShownText(message);
    this.el.hidden = !rateable;
    if (!rateable) return;
    if (!this.built) this.build(main);
    this.refresh();
  }

  refresh() {
    const value = this.rating ? this.rating.value : 0;
    this.upButton.setAttribute("aria-pressed", String(value === 1));
    this.downButton.setAttribute("aria-pressed", String(value === -1));
    this.moreButton.hidden = !value || !this.commentForm.hidden;
    this.moreButton.textContent = this.rating && this.rating.comment ? "Edit comment" : "Add a comment";
    const reported = Boolean(this.rating && this.rating.reported);
    this.reportForm.hidden = !this.reportOpen || value !== -1 || reported;
  }

  build(main) {
    this.built = true;
    const button = (label, value, name) =>
      h(
        "button",
        {
          type: "button",
          class: "icon-button rating__button",
          "aria-label": label,
          title: label,
          "data-value": String(value),
          onclick: () => this.rate(value),
        },
        icon(name),
      );
    this.upButton = button("Good reply", 1, "thumb-up");
    this.downButton = button("Bad reply", -1, "thumb-down");
    this.status = h("span", { class: "rating__status", role: "status" });
    const commentId = `rating-comment-${this.messageId}`;
    this.commentInput = h("textarea", { id: commentId, class: "rating__comment", rows: "2", maxlength: "2000", placeholder: "Optional" });
    this.commentForm = h(
      "form",
      { class: "rating__form", hidden: true },
      h("label", { for: commentId, class: "rating__label", text: "Tell us more" }),
      this.commentInput,
      h(
        "div",
        { class: "rating__actions" },
        h("button", { type: "button", class: "button button--small button--ghost", onclick: () => this.closeComment() }, "Close"),
        h("button", { type: "submit", class: "button button--small button--secondary" }, "Save comment"),
      ),
    );
    this.commentForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = this.rating ? this.rating.value : 1;
      this.save(value, this.commentInput.value, "Comment saved. Thank you!").then((ok) => {
        if (ok) this.closeComment();
      });
    });
    this.el.setAttribute("role", "group");
    this.el.setAttribute("aria-label", "Rate this reply");
    this.moreButton = h("button", { type: "button", class: "rating__more", hidden: true, onclick: () => this.openComment() }, "Add a comment");
    this.el.append(this.upButton, this.downButton, this.status, this.moreButton);
    this.buildReport();
    main.append(this.commentForm, this.reportForm);
  }

  buildReport() {
    const name = `report-reason-${this.messageId}`;
    const choices = REPORT_REASONS.map(([value, label]) => {
      const id = `${name}-${value}`;
      return h(
        "span",
        { class: "rating__choice" },
        h("input", { type: "radio", id, name, value, required: true }),
        h("label", { for: id, text: label }),
      );
    });
    this.reportForm = h(
      "form",
      { class: "rating__form rating__report", hidden: true },
      h(
        "fieldset",
        { class: "rating__reasons" },
        h("legend", { class: "rating__label", text: REPORT_QUESTION }),
        ...choices,
      ),
      h(
        "div",
        { class: "rating__actions" },
        h("button", { type: "button", class: "button button--small button--ghost", onclick: () => this.closeReport() }, "Not now"),
        h("button", { type: "submit", class: "button button--small button--secondary" }, REPORT_SEND),
      ),
    );
    this.reportForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const picked = this.reportForm.querySelector("input[type=radio]:checked");
      if (picked) this.report(picked.value);
    });
  }

  rate(value) {
    this.reportOpen = value === -1;
    const comment = this.rating ? this.rating.comment : "";
    return this.save(value, comment, "Thanks for the feedback.").then((ok) => {
      if (ok && value === -1) this.options.onGrow();
      return ok;
    });
  }

  async report(reason) {
    this.status.textContent = "Sending…";
    const comment = (this.rating && this.rating.comment) || "";
    const ok = await this.options.onRate(this.messageId, -1, comment, { reason, report: true });
    this.status.textContent = ok ? REPORT_SENT : REPORT_FAILED;
    if (ok) {
      this.reportOpen = false;
      this.downButton.focus(); // the form it was in is gone
    }
    return ok;
  }

  closeReport() {
    this.reportOpen = false;
    this.refresh();
    this.downButton.focus();
  }

  openComment() {
    this.commentInput.value = (this.rating && this.rating.comment) || "";
    this.commentForm.hidden = false;
    this.moreButton.hidden = true;
    this.commentInput.focus();
    this.options.onGrow();
  }

  closeComment() {
    this.commentForm.hidden = true;
    this.refresh();
    (this.rating && this.rating.value === -1 ? this.downButton : this.upButton).focus();
  }

  async save(value, comment, thanks) {
    this.status.textContent = "Saving…";
    // A later save (a comment) keeps a thumbs down's reason, which the server would otherwise clear.
    const reason = value === -1 && this.rating && this.rating.reason;
    const ok = await this.options.onRate(this.messageId, value, comment, reason ? { reason } : {});
    this.status.textContent = ok ? thanks : "Couldn't save your rating. Please try again.";
    return ok;
  }
}
