/* The words the chat page shows: labels, plain-language errors, announcements. No DOM. */

// One entry per error code the server sends (chat/protocol.py ErrorCode); anything else reads
// as "internal".
export const ERROR_TEXT = {
  bad_request: "That message couldn't be sent as it is. Please edit it and try again.",
  too_large: "That message is too long to send. Please shorten it and try again.",
  rate_limited: "You're sending messages very quickly. Wait a moment, then try again.",
  not_found: "This conversation can't be found. It may have been deleted.",
  busy: "A reply is still being written in this conversation. Wait for it to finish, or stop it.",
  backend_overloaded: "The assistant is busy right now. Please try again in a moment.",
  backend_unavailable: "The assistant can't be reached right now. Please try again shortly.",
  backend_error: "The assistant ran into a problem while writing this reply. Please try again.",
  internal: "Something went wrong on our side. Please try again.",
};

export const SIGNED_OUT_TEXT = "You're signed out. Sign in again to continue.";
export const CONNECTION_LOST_TEXT =
  "Connection lost. We'll keep trying to reconnect; your reply keeps being written meanwhile.";
export const LOAD_RETRY_TEXT = "Couldn't load this conversation. Retrying…";

export const STATUS_LABEL = {
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

export const DECISION_LABEL = {
  approved: "A held part of a reply was approved by our review team.",
  edited: "A held part of a reply was edited by our review team.",
  rejected: "A held part of a reply was replaced by our review team.",
};

export const DONE_ANNOUNCEMENT = {
  complete: "Reply complete.",
  held: "Reply finished; part of it is held for review.",
  stopped: "Reply stopped.",
  failed: "The reply failed.",
  refused: "Your message was not answered.",
};

// A thumbs down can go to the review team with a reason (the API's Rating.Reason values).
export const REPORT_REASONS = [
  ["harmful", "Harmful"],
  ["made_up", "Made up"],
  ["other", "Other"],
];
export const REPORT_QUESTION = "What was wrong?";
export const REPORT_SEND = "Send to our review team";
export const REPORT_SENT = "Sent to the review team";
export const REPORT_FAILED = "Couldn't send your report. Please try again.";

export const REFUSED_TITLE = "This message wasn't sent to the assistant because it didn't pass our safety checks.";
export const REFUSED_DETAIL = "Try rephrasing it.";

export function errorText(code) {
  return ERROR_TEXT[code] || ERROR_TEXT.internal;
}

export function statusLabel(status) {
  return STATUS_LABEL[status] || status;
}

/** A conversation title from its first message: one line, at most 60 characters. */
export function titleFrom(text) {
  const line = text.split(/\s+/).filter(Boolean).join(" ");
  return line.length <= 60 ? line : `${line.slice(0, 59)}…`;
}

/** The outcome of a review, shown as text under the reply (not only in a tooltip). */
export const DECISION_OUTCOME = {
  approved: "Approved by our review team: the held part is shown as written.",
  edited: "Edited by our review team.",
  rejected: "Replaced by our review team.",
};

export const CHECKING_TEXT = "Writing and checking…";
export const CUT_OFF_TEXT = "This reply was cut off at the length limit.";
export const CONTINUE_TEXT = "Continue";

/** Under a held part: when to expect a person's decision (REVIEW_SLA_MINUTES). */
export function heldHint(minutes) {
  if (!minutes) return "A person will check this part shortly.";
  const span = minutes >= 120 ? `${Math.round(minutes / 60)} hours` : `${minutes} minute${minutes === 1 ? "" : "s"}`;
  return `A person will check this part, usually within ${span}. The decision will appear here.`;
}

/** "14:05" today, "Mar 3, 14:05" before. */
export function messageTime(at, now = Date.now()) {
  const date = new Date(at);
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (new Date(now).toDateString() === date.toDateString()) return time;
  return `${date.toLocaleDateString([], { month: "short", day: "numeric" })}, ${time}`;
}

/** "123 / 4,000" near the limit; null while far from it. */
export function counterText(length, limit) {
  if (!limit || length < limit * 0.8) return null;
  return `${length.toLocaleString("en-US")} / ${limit.toLocaleString("en-US")}`;
}
