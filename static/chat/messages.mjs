/* Message views: render the reducer's messages into #messages. Text only (textContent and Text
 * nodes). Views keep no conversation state of their own; what the user does with them goes out
 * through callbacks:
 *   onResend(key)                      "Try again" on a message that was not sent
 *   onRetry(messageId)                 "Retry" on a failed reply
 *   onRate(messageId, value, comment)  -> Promise<boolean> (saved or not)
 *   onGrow()                           a view made itself taller (the comment form opened)
 */

import { h, icon } from "./dom.mjs";
import { hasText, questionOf, shownStatus } from "./reducer.mjs";
import { DECISION_LABEL, REFUSED_DETAIL, REFUSED_TITLE, errorText, statusLabel } from "./text.mjs";

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
    this.el = h("article", { class: "msg msg--user", "aria-label": "You said" }, this.bubble, this.footer);
  }

  update(message) {
    const before = this.message;
    if (before === message) return;
    this.message = message;
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
    this.chip = statusChip(message.status);
    this.rating = new RatingView(message.id, options);
    this.footer = h("div", { class: "msg__footer" }, this.chip, this.rating.el);
    this.main = h("div", { class: "msg__main" }, this.textEl, this.typing, this.notice, this.footer);
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
    if (message === this.message && canRetry === this.canRetry) return;
    const before = this.message;
    this.message = message;
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

  renderSegments(segments) {
    segments.forEach((segment, i) => {
      const shown = this.rendered[i];
      if (shown && shown.segment === segment) return;
      if (shown && shown.segment.kind === "released" && segment.kind === "released") {
        // Streaming: grow the same Text node, so what is on screen never flickers.
        const old = shown.node.data;
        if (segment.text.startsWith(old)) shown.node.appendData(segment.text.slice(old.length));
        else shown.node.data = segment.text;
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
      const node = document.createTextNode(segment.text);
      const el = h("span", { class: "seg" });
      el.append(node);
      return { segment, el, node };
    }
    if (segment.kind === "held") {
      const label = (segment.placeholder || this.options.placeholder || "held for review").replace(/^\[|\]$/g, "").trim();
      const el = h(
        "span",
        { class: "seg seg--held", role: "note", title: "A person will review this part of the reply." },
        icon("shield"),
        h("span", { class: "seg__label", text: label.charAt(0).toUpperCase() + label.slice(1) }),
        h("span", { class: "seg__hint", text: "A person will check this part shortly." }),
      );
      return { segment, el, node: null };
    }
    const label = DECISION_LABEL[segment.decision] || "Reviewed by our team";
    const el = h("span", { class: "seg seg--resolved", "data-decision": segment.decision || "approved", title: label });
    el.textContent = segment.text;
    el.hidden = Boolean(segment.hidden);
    return { segment, el, node: null };
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
      this.notice.replaceChildren(
        icon("shield"),
        h(
          "div",
          { class: "notice__body" },
          h("p", { class: "notice__title", text: REFUSED_TITLE }),
          h("p", { class: "notice__detail", text: REFUSED_DETAIL }),
        ),
      );
      this.notice.dataset.kind = "info";
      this.notice.hidden = false;
    } else {
      this.notice.hidden = true;
    }
  }
}

/** Thumbs up/down and an optional comment under a finished reply that shows some text. */
class RatingView {
  constructor(messageId, options) {
    this.messageId = messageId;
    this.options = options;
    this.rating = null;
    this.built = false;
    this.el = h("div", { class: "rating", hidden: true });
  }

  render(message, main) {
    this.rating = message.rating;
    const rateable = ["complete", "stopped", "held"].includes(message.status) && hasText(message);
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
    main.append(this.commentForm);
  }

  rate(value) {
    return this.save(value, this.rating ? this.rating.comment : "", "Thanks for the feedback.");
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
    const ok = await this.options.onRate(this.messageId, value, comment);
    this.status.textContent = ok ? thanks : "Couldn't save your rating. Please try again.";
    return ok;
  }
}
