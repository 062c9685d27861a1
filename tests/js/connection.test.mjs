// The reconnecting WebSocket (static/chat/connection.mjs), on a fake socket and a fake clock.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { HEARTBEAT_MS, PONG_TIMEOUT_MS, backoffDelay, createConnection } from "../../static/chat/connection.mjs";

class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static all = [];

  constructor(url) {
    this.url = url;
    this.readyState = FakeSocket.CONNECTING;
    this.sent = [];
    this.listeners = {};
    FakeSocket.all.push(this);
  }

  addEventListener(name, fn) {
    (this.listeners[name] ||= []).push(fn);
  }

  fire(name, event = {}) {
    for (const fn of this.listeners[name] || []) fn(event);
  }

  send(data) {
    this.sent.push(JSON.parse(data));
  }

  open() {
    this.readyState = FakeSocket.OPEN;
    this.fire("open");
  }

  receive(data) {
    this.fire("message", { data: typeof data === "string" ? data : JSON.stringify(data) });
  }

  /** The network cut it (or the handshake was refused). */
  drop() {
    this.readyState = FakeSocket.CLOSED;
    this.fire("close");
  }

  close() {
    this.readyState = FakeSocket.CLOSED;
  }
}

/** A clock whose timers run only when the test advances it. */
function fakeClock() {
  let now = 0;
  let nextId = 1;
  const timers = new Map();
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      timers.set(nextId, { fn, at: now + ms, every: 0 });
      return nextId++;
    },
    clearTimeout: (id) => timers.delete(id),
    setInterval: (fn, ms) => {
      timers.set(nextId, { fn, at: now + ms, every: ms });
      return nextId++;
    },
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        const [id, timer] = due;
        now = timer.at;
        if (timer.every) timer.at += timer.every;
        else timers.delete(id);
        timer.fn();
        await Promise.resolve();
      }
      now = end;
    },
  };
}

function setup({ checkSession, resume } = {}) {
  FakeSocket.all = [];
  const clock = fakeClock();
  const log = [];
  const frames = [];
  let cursor = 0;
  const connection = createConnection({
    url: "ws://test/ws/chat/",
    resume: resume || (() => [{ type: "subscribe", conversation_id: 1, after_seq: cursor }]),
    checkSession,
    onFrame: (frame) => frames.push(frame),
    onOpen: (socket) => log.push(["open", socket]),
    onClose: () => log.push(["close"]),
    onStatus: (s) => log.push(["status", s.state, s.connects, s.attempt]),
    env: { WebSocket: FakeSocket, ...clock, random: () => 0, window: null, document: null },
  });
  return { connection, clock, log, frames, setCursor: (n) => (cursor = n), socket: () => FakeSocket.all.at(-1) };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("backoffDelay", () => {
  test("doubles from half a second and stops at 15 s, jittered down to half", () => {
    assert.equal(backoffDelay(0, () => 0), 250);
    assert.equal(backoffDelay(0, () => 1), 500);
    assert.equal(backoffDelay(3, () => 1), 4000);
    assert.equal(backoffDelay(20, () => 0), 7500);
    assert.equal(backoffDelay(20, () => 1), 15000);
  });
});

describe("createConnection", () => {
  test("on open it resumes first, then hands over; frames are parsed, junk is skipped", () => {
    const { connection, log, frames, socket } = setup();
    connection.start();
    assert.deepEqual(log, [["status", "connecting", 0, 0]]);
    assert.equal(connection.send({ type: "ping" }), false, "nothing is sent before the socket opens");
    socket().open();
    assert.deepEqual(socket().sent, [{ type: "subscribe", conversation_id: 1, after_seq: 0 }]);
    assert.deepEqual(log.slice(1), [["status", "open", 1, 0], ["open", 1]]);
    socket().receive({ type: "pong" });
    socket().receive("not json");
    assert.deepEqual(frames, [{ type: "pong" }]);
    assert.equal(connection.isOpen(), true);
  });

  test("after a drop it reconnects with backoff and resumes from the cursor of that moment", async () => {
    const { connection, clock, log, socket, setCursor } = setup();
    connection.start();
    socket().open();
    setCursor(41);
    log.length = 0;
    socket().drop();
    assert.deepEqual(log, [["close"], ["status", "offline", 1, 1]]);
    await clock.advance(249);
    assert.equal(FakeSocket.all.length, 1, "waits for the backoff");
    await clock.advance(1);
    assert.equal(FakeSocket.all.length, 2);
    assert.deepEqual(log.at(-1), ["status", "connecting", 1, 1], "a reconnect (connects > 0)");
    socket().open();
    assert.deepEqual(socket().sent, [{ type: "subscribe", conversation_id: 1, after_seq: 41 }]);
    assert.deepEqual(log.at(-1), ["open", 2]);
  });

  test("failures in a row back off further; reconnectNow starts over at once", async () => {
    const { connection, clock, log, socket } = setup({ checkSession: async () => true });
    connection.start();
    socket().drop(); // refused handshake
    await settle();
    await clock.advance(250);
    socket().drop();
    await settle();
    assert.deepEqual(log.at(-1), ["status", "offline", 0, 2]);
    await clock.advance(499);
    assert.equal(FakeSocket.all.length, 2);
    connection.reconnectNow();
    assert.equal(FakeSocket.all.length, 3);
  });

  test("a refused handshake asks for the session; signed out means no more tries", async () => {
    const { connection, clock, log, socket } = setup({ checkSession: async () => false });
    connection.start();
    socket().drop();
    await settle();
    assert.deepEqual(log.at(-1), ["status", "signed_out", 0, 0]);
    await clock.advance(60_000);
    connection.reconnectNow();
    assert.equal(FakeSocket.all.length, 1);
  });

  test("a quiet line is pinged; an unanswered ping drops the socket and reconnects", async () => {
    const { connection, clock, log, socket } = setup();
    connection.start();
    const first = socket();
    first.open();
    first.sent.length = 0;
    await clock.advance(HEARTBEAT_MS);
    assert.deepEqual(first.sent, [{ type: "ping" }]);
    first.receive({ type: "pong" }); // answered: the line is alive
    await clock.advance(PONG_TIMEOUT_MS + 5000);
    assert.equal(connection.isOpen(), true);
    await clock.advance(HEARTBEAT_MS + PONG_TIMEOUT_MS + 5000); // pinged again, never answered
    assert.equal(first.readyState, FakeSocket.CLOSED);
    assert.ok(log.some(([kind]) => kind === "close"));
    await clock.advance(500);
    assert.equal(FakeSocket.all.length, 2, "a new socket replaces the silent one");
  });
});
