// Continue, regenerate, edit and resend, refusals, `checking` and times in the reducer
// (static/chat/reducer.mjs). Run with `node --test tests/js/`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  canContinue,
  canRegenerate,
  editableMessage,
  hasShownText,
  initialState,
  reduce,
  shownText,
  step,
  visibleMessages,
} from "../../static/chat/reducer.mjs";

const CONV = 7;

function run(state, ...events) {
  const effects = [];
  for (const event of events) {
    const result = step(state, event);
    state = result.state;
    effects.push(...result.effects);
  }
  return { state, effects };
}

const frame = (f, at = 1000) => ({ type: "frame", at, frame: { conversation_id: CONV, ...f } });
const started = (seq, user, reply, text = "Hi", extra = {}) =>
  frame({ type: "turn_started", seq, user_message_id: user, message_id: reply, user_text: text, ...extra });
const delta = (seq, id, text) => frame({ type: "delta", seq, message_id: id, text });
const done = (seq, id, status, finish = "stop", extra = {}) =>
  frame({ type: "done", seq, message_id: id, status, finish_reason: finish, usage: null, ...extra });
const sent = (effects) => effects.filter((e) => e.type === "send").map((e) => e.frame);
const byId = (state, id) => state.messages.find((m) => m.id === id);

/** A page on CONV that sent "Hi" and got a finished reply 2 (finish reason `finish`). */
function answered(finish = "stop", status = "complete") {
  const open = reduce(initialState(CONV), { type: "socket_open", socket: 1 });
  return run(
    open,
    { type: "send", text: "Hi", clientMsgId: "a", at: 500 },
    started(1, 1, 2, "Hi"),
    delta(2, 2, "Hello **there**"),
    done(3, 2, status, finish),
  ).state;
}

describe("continue", () => {
  test("a reply cut off at the length limit offers continue, which sends continue_of", () => {
    const state = answered("length");
    const reply = byId(state, 2);
    assert.equal(reply.finishReason, "length");
    assert.ok(canContinue(state, reply));
    const { state: next, effects } = run(state, { type: "continue", messageId: 2, text: "Continue", clientMsgId: "b", at: 2 });
    assert.deepEqual(sent(effects), [
      { type: "user_message", text: "Continue", conversation_id: CONV, client_msg_id: "b", continue_of: 2 },
    ]);
    assert.ok(!canContinue(next, byId(next, 2)), "not twice while it runs");
  });

  test("a reply that ended normally does not", () => {
    const state = answered("stop");
    assert.ok(!canContinue(state, byId(state, 2)));
    assert.deepEqual(run(state, { type: "continue", messageId: 2, text: "Continue", clientMsgId: "b" }).effects, []);
  });
});

describe("regenerate and edit", () => {
  test("regenerate sends the question again and the answered pair leaves the page", () => {
    const state = answered();
    assert.ok(canRegenerate(state, byId(state, 2)));
    const { state: next, effects } = run(state, { type: "regenerate", messageId: 2, clientMsgId: "r", at: 3 });
    assert.deepEqual(sent(effects), [
      { type: "user_message", text: "Hi", conversation_id: CONV, client_msg_id: "r", regenerate_of: 2 },
    ]);
    const after = run(next, started(4, 3, 4, "Hi", { supersedes: [1, 2] })).state;
    assert.deepEqual(
      visibleMessages(after).map((m) => [m.id, m.role]),
      [
        [3, "user"],
        [4, "assistant"],
      ],
    );
    assert.equal(after.pending, null);
  });

  test("only the last reply can be regenerated, and not while a reply runs", () => {
    let state = answered();
    state = run(state, { type: "send", text: "More", clientMsgId: "m" }, started(4, 3, 4, "More")).state;
    assert.ok(!canRegenerate(state, byId(state, 2)));
    assert.ok(!canRegenerate(state, byId(state, 4)), "still running");
    assert.equal(editableMessage(state), null);
  });

  test("edit and resend replaces the last user message", () => {
    const state = answered();
    assert.equal(editableMessage(state).id, 1);
    const { effects } = run(state, { type: "edit", messageId: 1, text: "Hi again", clientMsgId: "e" });
    assert.deepEqual(sent(effects), [
      { type: "user_message", text: "Hi again", conversation_id: CONV, client_msg_id: "e", edit_of: 1 },
    ]);
    assert.deepEqual(run(state, { type: "edit", messageId: 1, text: "  ", clientMsgId: "x" }).effects, []);
  });
});

describe("refusals", () => {
  test("our refused message comes back with its reason", () => {
    const open = reduce(initialState(CONV), { type: "socket_open", socket: 1 });
    const reason = "Your message is too long (4100 characters; the limit is 4000).";
    const { state, effects } = run(
      open,
      { type: "send", text: "x".repeat(4100), clientMsgId: "a" },
      started(1, 1, 2, "x".repeat(4100)),
      done(2, 2, "refused", "refused", { reason }),
    );
    assert.equal(byId(state, 2).reason, reason);
    assert.deepEqual(
      effects.filter((e) => e.type === "refused"),
      [{ type: "refused", text: "x".repeat(4100), reason }],
    );
  });

  test("another tab's refusal stays in that tab's box", () => {
    const open = reduce(initialState(CONV), { type: "socket_open", socket: 1 });
    const { effects } = run(open, started(1, 1, 2, "rude"), done(2, 2, "refused", "refused", { reason: "No." }));
    assert.deepEqual(
      effects.filter((e) => e.type === "refused"),
      [],
    );
  });
});

describe("checking, times, shown text", () => {
  test("checking counts waiting characters until text arrives", () => {
    const open = reduce(initialState(CONV), { type: "socket_open", socket: 1 });
    let state = run(open, started(1, 1, 2), frame({ type: "checking", seq: 2, message_id: 2, pending_chars: 40 })).state;
    assert.equal(byId(state, 2).checking, 40);
    state = run(state, frame({ type: "checking", seq: 3, message_id: 2, pending_chars: "many" })).state;
    assert.equal(byId(state, 2).checking, 40, "a malformed count is ignored");
    state = run(state, delta(4, 2, "Hi."), done(5, 2, "complete")).state;
    assert.equal(byId(state, 2).checking, null);
  });

  test("messages keep when they were sent or seen", () => {
    const state = answered();
    assert.equal(byId(state, 1).at, 500);
    assert.equal(byId(state, 2).at, 1000);
    const snap = reduce(initialState(CONV), {
      type: "snapshot",
      snapshot: {
        after_seq: 3,
        messages: [
          { id: 1, role: "user", status: "complete", segments: [{ kind: "released", text: "Q" }], created_at: "2026-01-02T03:04:05Z" },
          { id: 2, role: "assistant", status: "refused", reply_to: 1, segments: [], finish_reason: "refused", error_detail: "Too long.", created_at: "2026-01-02T03:04:06Z" },
        ],
      },
    });
    assert.equal(snap.messages[0].at, Date.parse("2026-01-02T03:04:05Z"));
    assert.equal(snap.messages[1].reason, "Too long.");
  });

  test("a placeholder alone is not text the user can rate or copy", () => {
    const onlyHeld = { segments: [{ kind: "held", placeholder: "[held]" }] };
    assert.ok(!hasShownText(onlyHeld));
    const mixed = {
      segments: [
        { kind: "released", text: "A " },
        { kind: "resolved", text: "B", decision: "edited", hidden: false },
        { kind: "resolved", text: "", decision: "edited", hidden: true },
      ],
    };
    assert.ok(hasShownText(mixed));
    assert.equal(shownText(mixed), "A B");
  });
});
