// The chat's protocol reducer (static/chat/reducer.mjs): frames and local events in, state and
// effects out. Run with `node --test tests/js/` (make test does).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  canSend,
  hasText,
  initialState,
  isGenerating,
  questionOf,
  reduce,
  resumeFrames,
  shownStatus,
  step,
} from "../../static/chat/reducer.mjs";

const CONV = 7;

/** Apply events in order; returns the last state and every effect, in order. */
function run(state, ...events) {
  const effects = [];
  for (const event of events) {
    const result = step(state, event);
    state = result.state;
    effects.push(...result.effects);
  }
  return { state, effects };
}

const frame = (f) => ({ type: "frame", frame: { conversation_id: CONV, ...f } });
const started = (seq, user, reply, text = "Hi") =>
  frame({ type: "turn_started", seq, user_message_id: user, message_id: reply, user_text: text });
const delta = (seq, id, text) => frame({ type: "delta", seq, message_id: id, text });
const held = (seq, id, segment) =>
  frame({ type: "held", seq, message_id: id, segment, placeholder: "[held for review]", reasons: [] });
const done = (seq, id, status) => frame({ type: "done", seq, message_id: id, status, finish_reason: "stop", usage: null });
const resolved = (seq, id, decision, text, replaces = "held") =>
  frame({ type: "review_resolved", seq, message_id: id, decision, text, replaces });

/** A page on conversation CONV with a live socket. */
function following() {
  return reduce(initialState(CONV), { type: "socket_open", socket: 1 });
}

function deepFreeze(value) {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

const replyOf = (state, id) => state.messages.find((m) => m.id === id);
const sent = (effects) => effects.filter((e) => e.type === "send").map((e) => e.frame);

describe("snapshot", () => {
  const snapshot = {
    id: CONV,
    messages: [
      { id: 1, role: "user", status: "complete", segments: [{ kind: "released", text: "Can I " }, { kind: "released", text: "get a refund?" }] },
      {
        id: 2,
        role: "assistant",
        status: "held",
        reply_to: 1,
        rating: { value: 1, comment: "" },
        segments: [
          { kind: "released", text: "Let me check. " },
          { kind: "released", text: "" },
          { kind: "held", text: "", placeholder: "[held]", resolved: false, decision: null },
          { kind: "held", text: "Within 30 days.", placeholder: "[held]", resolved: true, decision: "edited" },
        ],
      },
      { id: 3, role: "user", status: "complete", segments: [{ kind: "released", text: "And?" }] },
      { id: 4, role: "assistant", status: "failed", reply_to: 3, error_code: "backend_overloaded", error_detail: "Busy.", segments: [] },
      { id: 5, role: "user", status: "complete", segments: [{ kind: "released", text: "Again" }] },
      { id: 6, role: "assistant", status: "streaming", reply_to: 5, segments: [] },
    ],
  };

  test("reads the cursor from after_seq", () => {
    const state = reduce(initialState(CONV), { type: "snapshot", snapshot: { ...snapshot, after_seq: 12, resume_after: 3 } });
    assert.equal(state.lastSeq, 12);
  });

  test("falls back to resume_after", () => {
    const state = reduce(initialState(CONV), { type: "snapshot", snapshot: { ...snapshot, resume_after: 9 } });
    assert.equal(state.lastSeq, 9);
  });

  test("turns stored messages into page messages", () => {
    const state = reduce(initialState(CONV), { type: "snapshot", snapshot: { ...snapshot, after_seq: 12 } });
    assert.deepEqual(
      state.messages.map((m) => [m.id, m.role, m.status]),
      [
        [1, "user", "sent"],
        [2, "assistant", "held"],
        [3, "user", "sent"],
        [4, "assistant", "failed"],
        [5, "user", "sent"],
        [6, "assistant", "streaming"],
      ],
    );
    assert.equal(state.messages[0].text, "Can I get a refund?");
    assert.deepEqual(replyOf(state, 2).segments, [
      { kind: "released", text: "Let me check. " },
      { kind: "held", placeholder: "[held]" },
      { kind: "resolved", text: "Within 30 days.", decision: "edited", hidden: false },
    ]);
    assert.deepEqual(replyOf(state, 2).rating, { value: 1, comment: "" });
    assert.deepEqual(replyOf(state, 4).error, { code: "backend_overloaded", detail: "Busy." });
    assert.equal(state.running, 6, "a reply still streaming is the running one");
    assert.equal(questionOf(state, replyOf(state, 4)), "And?");
  });

  test("a failed reply without a stored code reads as internal", () => {
    const state = reduce(initialState(CONV), {
      type: "snapshot",
      snapshot: { resume_after: 2, messages: [{ id: 2, role: "assistant", status: "failed", reply_to: null, error_code: "", segments: [] }] },
    });
    assert.deepEqual(replyOf(state, 2).error, { code: "internal", detail: "" });
  });
});

describe("conversation events", () => {
  test("a reply streams into one growing released segment", () => {
    const { state, effects } = run(following(), started(1, 10, 11), delta(2, 11, "Hello"), delta(3, 11, " there."));
    assert.deepEqual(replyOf(state, 11).segments, [{ kind: "released", text: "Hello there." }]);
    assert.equal(state.running, 11);
    assert.equal(state.lastSeq, 3);
    assert.deepEqual(effects, [{ type: "turn_started", conversationId: CONV }]);
    const question = replyOf(state, 10);
    assert.equal(question.role, "user");
    assert.equal(question.text, "Hi", "a question sent from another tab is shown too");
  });

  test("a frame at or below the last seq is dropped (replay after reconnect)", () => {
    const { state } = run(following(), started(1, 10, 11), delta(2, 11, "Once. "), delta(2, 11, "Once. "), delta(1, 11, "Old"));
    assert.deepEqual(replyOf(state, 11).segments, [{ kind: "released", text: "Once. " }]);
  });

  test("frames of other conversations, and frames without a seq, change nothing", () => {
    const state = following();
    const other = { type: "frame", frame: { type: "turn_started", conversation_id: 99, seq: 1, user_message_id: 1, message_id: 2, user_text: "x" } };
    assert.equal(reduce(state, other), state);
    assert.equal(reduce(state, { type: "frame", frame: { type: "delta", conversation_id: CONV, message_id: 2, text: "x" } }), state);
    assert.equal(reduce(state, { type: "frame", frame: { type: "pong" } }), state);
    assert.equal(reduce(state, { type: "frame", frame: null }), state);
    assert.equal(reduce(state, { type: "frame", frame: { no: "type" } }), state);
  });

  test("held opens one placeholder per held segment; text after it is a new segment", () => {
    const { state } = run(
      following(),
      started(1, 10, 11),
      delta(2, 11, "Sure. "),
      held(3, 11, 0),
      held(4, 11, 0), // a later chunk of the same held segment
      delta(5, 11, "More."),
      held(6, 11, 1),
    );
    assert.deepEqual(replyOf(state, 11).segments, [
      { kind: "released", text: "Sure. " },
      { kind: "held", placeholder: "[held for review]" },
      { kind: "released", text: "More." },
      { kind: "held", placeholder: "[held for review]" },
    ]);
  });

  test("done sets the final status, ends the running turn and is announced", () => {
    const { state, effects } = run(following(), started(1, 10, 11), delta(2, 11, "Hi."), done(3, 11, "complete"));
    assert.equal(replyOf(state, 11).status, "complete");
    assert.equal(state.running, null);
    assert.equal(isGenerating(state), false);
    assert.deepEqual(effects.at(-1), { type: "done", status: "complete" });
  });

  test("events for a reply already final are ignored (the snapshot had it whole)", () => {
    const base = reduce(following(), {
      type: "snapshot",
      snapshot: {
        after_seq: 0,
        messages: [
          { id: 10, role: "user", segments: [{ kind: "released", text: "Hi" }] },
          { id: 11, role: "assistant", status: "complete", reply_to: 10, segments: [{ kind: "released", text: "Hello." }] },
        ],
      },
    });
    const { state, effects } = run(base, started(1, 10, 11), delta(2, 11, "Hello."), done(3, 11, "complete"));
    assert.deepEqual(replyOf(state, 11).segments, [{ kind: "released", text: "Hello." }]);
    assert.equal(state.messages.length, 2);
    assert.equal(state.running, null);
    assert.deepEqual(effects, []);
    assert.equal(state.lastSeq, 3, "the cursor still moves on");
  });

  test("a reply streaming in the snapshot is rebuilt from its events", () => {
    const base = reduce(following(), {
      type: "snapshot",
      snapshot: {
        after_seq: 0,
        messages: [
          { id: 10, role: "user", segments: [{ kind: "released", text: "Hi" }] },
          { id: 11, role: "assistant", status: "streaming", reply_to: 10, segments: [] },
        ],
      },
    });
    const { state } = run(base, started(1, 10, 11), delta(2, 11, "Hel"), delta(3, 11, "lo."));
    assert.equal(state.messages.length, 2, "no second copy of the question or the reply");
    assert.deepEqual(replyOf(state, 11).segments, [{ kind: "released", text: "Hello." }]);
  });

  test("an error frame marks the reply; a failed done without one reads as internal", () => {
    const withError = run(
      following(),
      started(1, 10, 11),
      frame({ type: "error", seq: 2, message_id: 11, code: "backend_overloaded", detail: "Busy." }),
      done(3, 11, "failed"),
    ).state;
    assert.deepEqual(replyOf(withError, 11).error, { code: "backend_overloaded", detail: "Busy." });
    const bare = run(following(), started(1, 10, 11), done(2, 11, "failed")).state;
    assert.deepEqual(replyOf(bare, 11).error, { code: "internal", detail: "" });
  });
});

describe("review_resolved", () => {
  const heldReply = () => run(following(), started(1, 10, 11), delta(2, 11, "Let me check. "), held(3, 11, 0), done(4, 11, "held")).state;

  test("the placeholder becomes the reviewer's text and the chip says reviewed", () => {
    const before = heldReply();
    assert.equal(shownStatus(replyOf(before, 11)), "held");
    const { state, effects } = run(before, resolved(5, 11, "edited", "Within 30 days."));
    assert.deepEqual(replyOf(state, 11).segments, [
      { kind: "released", text: "Let me check. " },
      { kind: "resolved", text: "Within 30 days.", decision: "edited", hidden: false },
    ]);
    assert.equal(shownStatus(replyOf(state, 11)), "reviewed");
    assert.deepEqual(effects, [{ type: "reviewed", decision: "edited" }]);
  });

  test("with several held parts the first takes the text and the others are hidden", () => {
    const state = run(following(), started(1, 10, 11), held(2, 11, 0), delta(3, 11, "mid"), held(4, 11, 1), done(5, 11, "held"), resolved(6, 11, "rejected", "Removed.")).state;
    assert.deepEqual(replyOf(state, 11).segments, [
      { kind: "resolved", text: "Removed.", decision: "rejected", hidden: false },
      { kind: "released", text: "mid" },
      { kind: "resolved", text: "", decision: "rejected", hidden: true },
    ]);
  });

  test("two held parts, both approved: live and reloaded views agree", () => {
    const live = run(
      following(), started(1, 10, 11), delta(2, 11, "A. "), held(3, 11, 0), delta(4, 11, "B. "), held(5, 11, 1),
      delta(6, 11, "C."), done(7, 11, "held"),
      frame({ type: "review_resolved", seq: 8, message_id: 11, decision: "approved", text: "X. Y. ", replaces: "held", segments: ["X. ", "Y. "] }),
    ).state;
    const reloaded = reduce(initialState(CONV), {
      type: "snapshot",
      snapshot: {
        id: CONV, after_seq: 8,
        messages: [
          { id: 10, role: "user", status: "complete", segments: [{ kind: "released", text: "q" }] },
          { id: 11, role: "assistant", status: "held", reply_to: 10, segments: [
            { kind: "released", text: "A. " },
            { kind: "held", text: "X. ", placeholder: "[held]", resolved: true, decision: "approved" },
            { kind: "released", text: "B. " },
            { kind: "held", text: "Y. ", placeholder: "[held]", resolved: true, decision: "approved" },
            { kind: "released", text: "C." },
          ] },
        ],
      },
    });
    assert.deepEqual(replyOf(live, 11).segments, replyOf(reloaded, 11).segments);
    assert.deepEqual(replyOf(live, 11).segments.map((s) => s.text).join(""), "A. X. B. Y. C.");
  });

  test("replaces: reply swaps the whole flagged reply", () => {
    const flagged = run(following(), started(1, 10, 11), delta(2, 11, "Call 555."), done(3, 11, "complete")).state;
    const state = reduce(flagged, resolved(4, 11, "edited", "Write to us.", "reply"));
    assert.deepEqual(replyOf(state, 11).segments, [{ kind: "resolved", text: "Write to us.", decision: "edited", hidden: false }]);
    assert.equal(shownStatus(replyOf(state, 11)), "complete");
  });

  test("an approved flagged reply changes nothing on screen", () => {
    const flagged = run(following(), started(1, 10, 11), delta(2, 11, "Fine."), done(3, 11, "complete")).state;
    const state = reduce(flagged, resolved(4, 11, "approved", "", "held"));
    assert.equal(replyOf(state, 11), replyOf(flagged, 11));
  });
});

describe("sending", () => {
  test("a message on a new page is sent, then named by its turn_started", () => {
    let { state, effects } = run(reduce(initialState(null), { type: "socket_open", socket: 1 }), { type: "send", text: "Hello", clientMsgId: "c-1" });
    assert.deepEqual(sent(effects), [{ type: "user_message", text: "Hello", conversation_id: null, client_msg_id: "c-1" }]);
    assert.equal(state.messages[0].status, "sending");
    assert.equal(canSend(state), false);
    assert.equal(isGenerating(state), true);

    ({ state, effects } = run(state, started(1, 10, 11, "Hello")));
    assert.equal(state.conversationId, CONV);
    assert.equal(state.pending, null);
    assert.deepEqual(state.messages.map((m) => [m.key, m.id, m.status]), [["cc-1", 10, "sent"], ["m11", 11, "streaming"]]);
    assert.deepEqual(effects, [
      { type: "adopted", conversationId: CONV, text: "Hello" },
      { type: "turn_started", conversationId: CONV },
    ]);
    assert.deepEqual(resumeFrames(state), [{ type: "subscribe", conversation_id: CONV, after_seq: 1 }]);
  });

  test("a new page ignores events until its own message starts a turn", () => {
    const state = reduce(initialState(null), { type: "send", text: "Mine", clientMsgId: "c-1" });
    assert.equal(reduce(state, started(1, 10, 11, "Someone else's")), state);
    assert.equal(reduce(state, delta(2, 11, "x")), state);
  });

  test("offline: queued, sent once the socket opens, once per socket", () => {
    let { state, effects } = run(initialState(CONV), { type: "send", text: "Hi", clientMsgId: "c-1" });
    assert.equal(state.messages[0].status, "queued");
    assert.deepEqual(effects, []);
    ({ state, effects } = run(state, { type: "socket_open", socket: 1 }, { type: "socket_open", socket: 1 }));
    assert.equal(sent(effects).length, 1);
    assert.equal(state.messages[0].status, "sending");
    ({ state, effects } = run(state, { type: "socket_closed" }));
    assert.equal(state.messages[0].status, "queued");
    ({ state, effects } = run(state, { type: "socket_open", socket: 2 }));
    assert.deepEqual(sent(effects), [{ type: "user_message", text: "Hi", conversation_id: CONV, client_msg_id: "c-1" }]);
    assert.equal(state.pending.resent, true);
  });

  test("a resent message on a new page subscribes, since the server answers it without following", () => {
    const state = run(
      initialState(null),
      { type: "socket_open", socket: 1 },
      { type: "send", text: "Hi", clientMsgId: "c-1" },
      { type: "socket_closed" },
      { type: "socket_open", socket: 2 },
    ).state;
    const { effects } = step(state, started(5, 10, 11));
    assert.deepEqual(sent(effects), [{ type: "subscribe", conversation_id: CONV, after_seq: 4 }]);
  });

  test("a refused message is marked unsent and can be sent again with the same id", () => {
    let { state, effects } = run(following(), { type: "send", text: "Hi", clientMsgId: "c-1" }, frame({ type: "error", code: "rate_limited", detail: "Slow down." }));
    assert.deepEqual([state.messages[0].status, state.messages[0].code], ["unsent", "rate_limited"]);
    assert.equal(state.pending, null);
    assert.deepEqual(effects.at(-1), { type: "unsent", code: "rate_limited" });
    ({ state, effects } = run(state, { type: "resend", key: "cc-1" }));
    assert.deepEqual(sent(effects), [{ type: "user_message", text: "Hi", conversation_id: CONV, client_msg_id: "c-1" }]);
    assert.equal(state.messages[0].status, "sending");
  });

  test("busy: the message is unsent and the reply already running is the one to stop", () => {
    const { state } = run(following(), { type: "send", text: "Hi", clientMsgId: "c-1" }, frame({ type: "error", code: "busy", detail: "", message_id: 42 }));
    assert.equal(state.messages[0].status, "unsent");
    assert.equal(state.running, 42);
  });

  test("a request error with nothing pending is for the page (a banner)", () => {
    const { state, effects } = run(following(), frame({ type: "error", code: "not_found", detail: "No such conversation." }));
    assert.deepEqual(effects, [{ type: "request_error", code: "not_found" }]);
    assert.equal(state.messages.length, 0);
  });

  test("nothing new is sent while a reply runs", () => {
    const state = run(following(), started(1, 10, 11)).state;
    assert.equal(canSend(state), false);
    assert.equal(reduce(state, { type: "send", text: "Again", clientMsgId: "c-2" }), state);
  });
});

describe("stop and retry", () => {
  test("stop is sent once; a stop error (the reply had finished) clears the request", () => {
    let { state, effects } = run(following(), started(1, 10, 11), { type: "stop" }, { type: "stop" });
    assert.deepEqual(sent(effects), [{ type: "stop", message_id: 11 }]);
    assert.equal(state.stopRequested, true);
    ({ state } = run(state, frame({ type: "error", code: "bad_request", detail: "Finished.", message_id: 11 })));
    assert.equal(state.stopRequested, false);
  });

  test("stop does nothing when no reply runs", () => {
    const state = following();
    assert.deepEqual(step(state, { type: "stop" }), { state, effects: [] });
  });

  test("retry on a failed reply sends its question again, once", () => {
    const failed = run(following(), started(1, 10, 11, "Opening hours?"), done(2, 11, "failed")).state;
    const { state, effects } = run(failed, { type: "retry", messageId: 11, clientMsgId: "c-9" });
    assert.deepEqual(sent(effects), [{ type: "user_message", text: "Opening hours?", conversation_id: CONV, client_msg_id: "c-9" }]);
    assert.equal(replyOf(state, 11).retried, true);
    assert.equal(reduce(state, { type: "retry", messageId: 11, clientMsgId: "c-10" }), state, "not while the retry is pending");
  });
});

describe("ratings", () => {
  const rated = (rating) => ({ type: "rated", messageId: 11, rating });

  test("a report to the review team stays sent through later saves", () => {
    let state = deepFreeze(run(following(), started(1, 10, 11), delta(2, 11, "Made-up fact."), done(3, 11, "complete")).state);
    state = deepFreeze(reduce(state, rated({ value: -1, comment: "", reason: null })));
    assert.deepEqual(replyOf(state, 11).rating, { value: -1, comment: "", reason: null });
    state = deepFreeze(reduce(state, rated({ value: -1, comment: "", reason: "made_up", reported: true })));
    assert.deepEqual(replyOf(state, 11).rating, { value: -1, comment: "", reason: "made_up", reported: true });
    // Saving a comment afterwards: the server's answer doesn't say "reported", the state still does.
    state = deepFreeze(reduce(state, rated({ value: -1, comment: "Wrong year.", reason: "made_up" })));
    assert.deepEqual(replyOf(state, 11).rating, { value: -1, comment: "Wrong year.", reason: "made_up", reported: true });
  });

  test("a rating that was never reported has no reported flag", () => {
    const state = run(following(), started(1, 10, 11), done(2, 11, "complete"), rated({ value: -1, comment: "", reported: false })).state;
    assert.deepEqual(replyOf(state, 11).rating, { value: -1, comment: "" });
  });
});

describe("purity", () => {
  test("no event changes the state it is given", () => {
    let state = deepFreeze(initialState(null));
    const events = [
      { type: "socket_open", socket: 1 },
      { type: "send", text: "Hi", clientMsgId: "c-1" },
      started(1, 10, 11),
      delta(2, 11, "Hello "),
      delta(3, 11, "there. "),
      held(4, 11, 0),
      delta(5, 11, "more"),
      { type: "stop" },
      done(6, 11, "held"),
      resolved(7, 11, "edited", "Fixed."),
      { type: "rated", messageId: 11, rating: { value: 1, comment: "" } },
      { type: "socket_closed" },
      { type: "signed_out" },
    ];
    for (const event of events) state = deepFreeze(reduce(state, event)); // throws if it mutated
    assert.equal(state.signedOut, true);
    assert.deepEqual(replyOf(state, 11).rating, { value: 1, comment: "" });
    assert.equal(hasText(replyOf(state, 11)), true);
  });

  test("unknown events return the same state", () => {
    const state = following();
    assert.equal(reduce(state, { type: "nothing" }), state);
  });
});
