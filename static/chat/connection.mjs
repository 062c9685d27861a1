/* One WebSocket that stays connected: reconnects with jittered exponential backoff, resumes on
 * every open (the owner's `resume()` frames go first: subscribe with after_seq = the last seq
 * seen), pings when the line is quiet and reconnects when a ping goes unanswered. No DOM: it
 * reports what happens through callbacks, so the chat page and the console can both use it.
 *
 * Statuses given to onStatus({state, connects, attempt}):
 *   "connecting"  a socket is being opened (connects > 0: it is a reconnect)
 *   "open"        open; `connects` counts opens since the page loaded
 *   "offline"     closed; the next attempt is scheduled (`attempt` counts failures in a row)
 *   "signed_out"  checkSession() said the session ended (or signOut() was called): no retries
 */

export const HEARTBEAT_MS = 20000;
export const PONG_TIMEOUT_MS = 10000;
const TICK_MS = 5000;

/** Delay before reconnect attempt `attempt` (0-based): doubling from 0.5 s up to 15 s, with
 * jitter (half to all of it) so clients cut off together don't come back together. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(15000, 500 * 2 ** attempt);
  return base / 2 + random() * (base / 2);
}

/**
 * @param {object} options
 * @param {string} options.url                 ws:// or wss:// address
 * @param {(frame: object) => void} options.onFrame     every parsed frame (pongs included)
 * @param {() => object[]} [options.resume]    frames to send first on every open
 * @param {(socket: number) => void} [options.onOpen]   after resume; `socket` identifies this open
 * @param {() => void} [options.onClose]       the open (or opening) socket is gone
 * @param {(status: object) => void} [options.onStatus]
 * @param {() => Promise<boolean>} [options.checkSession]  asked when a handshake fails: false
 *        means signed out (stop trying); true, or a failure to ask, means try again
 * @param {object} [options.env]  stand-ins for tests: WebSocket, setTimeout, clearTimeout,
 *        setInterval, now, random, window, document (null: no listeners)
 */
export function createConnection(options) {
  const { url, onFrame, resume = () => [], onOpen = () => {}, onClose = () => {}, onStatus = () => {} } = options;
  const checkSession = options.checkSession || (async () => true);
  const env = { ...defaultEnv(), ...(options.env || {}) };
  const conn = { ws: null, attempt: 0, timer: null, heartbeat: null, pingAt: 0, lastFrameAt: 0, connects: 0 };
  let signedOut = false;
  let started = false;

  const status = (state) => onStatus({ state, connects: conn.connects, attempt: conn.attempt });

  function isOpen() {
    return Boolean(conn.ws) && conn.ws.readyState === env.WebSocket.OPEN;
  }

  /** Send a frame if the socket is open; returns whether it was sent. */
  function send(frame) {
    if (!isOpen()) return false;
    conn.ws.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    env.clearTimeout(conn.timer);
    conn.timer = null;
    if (signedOut || (conn.ws && conn.ws.readyState <= env.WebSocket.OPEN)) return;
    status("connecting");
    const ws = new env.WebSocket(url);
    let opened = false;
    conn.ws = ws;
    ws.addEventListener("open", () => {
      if (conn.ws !== ws) return;
      opened = true;
      conn.attempt = 0;
      conn.connects += 1;
      conn.lastFrameAt = env.now();
      conn.pingAt = 0;
      status("open");
      for (const frame of resume()) send(frame);
      onOpen(conn.connects);
    });
    ws.addEventListener("message", (event) => {
      if (conn.ws !== ws) return;
      conn.lastFrameAt = env.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      onFrame(frame);
    });
    ws.addEventListener("close", () => {
      if (conn.ws === ws) dropped(opened);
    });
  }

  function dropped(wasOpen) {
    conn.ws = null;
    onClose();
    if (wasOpen) {
      scheduleReconnect();
      return;
    }
    // Refused before opening: maybe the session ended. Ask over HTTP, then carry on.
    checkSession().then(
      (ok) => (ok ? scheduleReconnect() : signOut()),
      () => scheduleReconnect(),
    );
  }

  function scheduleReconnect() {
    if (signedOut || conn.timer) return;
    const delay = backoffDelay(conn.attempt, env.random);
    conn.attempt += 1;
    status("offline");
    conn.timer = env.setTimeout(connect, delay);
  }

  /** Try at once (a button, the browser coming back online), resetting the backoff. */
  function reconnectNow() {
    if (isOpen() || signedOut) return;
    if (conn.ws && conn.ws.readyState === env.WebSocket.CONNECTING) return;
    conn.attempt = 0;
    connect();
  }

  /** Stop for good: the session ended. */
  function signOut() {
    if (signedOut) return;
    signedOut = true;
    env.clearTimeout(conn.timer);
    conn.timer = null;
    status("signed_out");
  }

  function ping() {
    conn.pingAt = env.now();
    send({ type: "ping" });
  }

  // A socket can die silently (laptop sleep, network change): ping, and reconnect on silence.
  function tick() {
    if (!isOpen()) return;
    const now = env.now();
    const awaitingPong = conn.pingAt && conn.lastFrameAt < conn.pingAt;
    if (awaitingPong && now - conn.pingAt > PONG_TIMEOUT_MS) {
      const ws = conn.ws;
      dropped(true);
      ws.close();
      return;
    }
    // One ping at a time: pinging again would restart the pong timeout, and it would never end.
    if (!awaitingPong && now - conn.lastFrameAt >= HEARTBEAT_MS) ping();
  }

  /** Open the first socket and start watching the line. */
  function start() {
    if (started) return;
    started = true;
    conn.heartbeat = env.setInterval(tick, TICK_MS);
    if (env.window) env.window.addEventListener("online", reconnectNow);
    if (env.document) {
      env.document.addEventListener("visibilitychange", () => {
        if (env.document.visibilityState !== "visible") return;
        if (isOpen()) ping();
        else reconnectNow();
      });
    }
    connect();
  }

  return {
    start,
    send,
    isOpen,
    reconnectNow,
    signOut,
    get connects() {
      return conn.connects;
    },
  };
}

function defaultEnv() {
  return {
    WebSocket: globalThis.WebSocket,
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (id) => globalThis.clearTimeout(id),
    setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
    now: () => Date.now(),
    random: Math.random,
    window: globalThis.window,
    document: globalThis.document,
  };
}
