/* Pure helpers of the console (no DOM): text pieces with highlighted spans, durations,
 * countdowns. Tested with node --test (tests/js/console.test.mjs). */

/**
 * Split one segment of a reply into pieces, marking the failing spans.
 * @param {string} text     the segment's text
 * @param {number} start    the segment's offset in the whole reply
 * @param {Array<{span: number[]}>} reasons  spans are absolute offsets in the reply
 * @returns {Array<{text: string, marked: boolean, reasons: number[]}>}  `reasons`: indexes
 *          into `reasons` of the spans covering the piece; pieces join back to `text`
 */
export function highlightPieces(text, start, reasons) {
  const end = start + text.length;
  const cuts = new Set([0, text.length]);
  const ranges = [];
  reasons.forEach((reason, index) => {
    const span = reason && reason.span;
    if (!Array.isArray(span) || span.length !== 2) return;
    const from = Math.max(start, Number(span[0])) - start;
    const to = Math.min(end, Number(span[1])) - start;
    if (!(to > from)) return;
    ranges.push({ from, to, index });
    cuts.add(from);
    cuts.add(to);
  });
  const points = [...cuts].sort((a, b) => a - b);
  const pieces = [];
  for (let i = 0; i + 1 < points.length; i += 1) {
    const [from, to] = [points[i], points[i + 1]];
    const covering = ranges.filter((r) => r.from <= from && r.to >= to).map((r) => r.index);
    const piece = { text: text.slice(from, to), marked: covering.length > 0, reasons: covering };
    const last = pieces[pieces.length - 1];
    if (last && !last.marked && !piece.marked) last.text += piece.text;
    else pieces.push(piece);
  }
  return pieces.length ? pieces : [{ text, marked: false, reasons: [] }];
}

/** "45 s", "3 min", "2 h 5 min", "3 d 4 h": a duration in seconds, short. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** "4:09" / "1:02:03": time left, for a countdown. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/**
 * The SLA state of an open item at `nowMs`.
 * @returns {{state: "ok"|"soon"|"overdue", text: string}}  "soon": under 20 % of the SLA or 2 min
 */
export function slaState(item, nowMs) {
  const deadline = Date.parse(item.sla_deadline);
  const created = Date.parse(item.created_at);
  const left = (deadline - nowMs) / 1000;
  if (left <= 0 || item.overdue) {
    const late = duration(Math.max(0, -left));
    return { state: "overdue", text: item.escalated_at ? `Overdue ${late} · escalated` : `Overdue ${late}` };
  }
  const total = Math.max(1, (deadline - created) / 1000);
  const soon = left < Math.max(120, total * 0.2);
  return { state: soon ? "soon" : "ok", text: `${clock(left)} left` };
}

/** "just now", "5 min ago", "2 h ago". */
export function ago(iso, nowMs) {
  const seconds = (nowMs - Date.parse(iso)) / 1000;
  return seconds < 30 ? "just now" : `${duration(seconds)} ago`;
}

/** The words of a reason chip: "toxicity · insult 0.93" or "patterns · phone_number". */
export function reasonLabel(reason) {
  const name = reason.pattern || reason.label || "";
  const score = typeof reason.score === "number" && reason.check === "toxicity" ? ` ${reason.score.toFixed(2)}` : "";
  return `${reason.check}${name ? ` · ${name}` : ""}${score}`;
}

/** Percent, no decimals: 0.333 → "33 %". */
export function percent(rate) {
  return `${Math.round(rate * 100)} %`;
}
