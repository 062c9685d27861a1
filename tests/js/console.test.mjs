import { test } from "node:test";
import assert from "node:assert/strict";

import { clock, duration, highlightPieces, reasonLabel, slaState } from "../../static/console/format.mjs";

test("highlightPieces marks spans at absolute offsets inside a segment", () => {
  // The reply is "Sure. Call +1 415 555 0100 now." and this segment starts at 6.
  const segment = "Call +1 415 555 0100 now.";
  const pieces = highlightPieces(segment, 6, [{ span: [11, 26] }, { span: [0, 4] }]);
  assert.deepEqual(
    pieces.map((p) => [p.text, p.marked, p.reasons]),
    [
      ["Call ", false, []],
      ["+1 415 555 0100", true, [0]],
      [" now.", false, []],
    ],
  );
  assert.equal(pieces.map((p) => p.text).join(""), segment);
});

test("highlightPieces handles overlapping spans and spans past the segment", () => {
  const pieces = highlightPieces("abcdef", 10, [{ span: [11, 14] }, { span: [13, 99] }]);
  assert.deepEqual(
    pieces.map((p) => [p.text, p.reasons]),
    [
      ["a", []],
      ["bc", [0]],
      ["d", [0, 1]],
      ["ef", [1]],
    ],
  );
});

test("durations, countdowns and reason labels read plainly", () => {
  assert.equal(duration(42), "42 s");
  assert.equal(duration(3 * 3600 + 5 * 60), "3 h 5 min");
  assert.equal(clock(249), "4:09");
  assert.equal(reasonLabel({ check: "toxicity", label: "insult", score: 0.934 }), "toxicity · insult 0.93");
  assert.equal(reasonLabel({ check: "patterns", label: "phone", pattern: "phone_number" }), "patterns · phone_number");
});

test("slaState counts down, then says overdue and escalated", () => {
  const item = { created_at: "2026-01-01T00:00:00Z", sla_deadline: "2026-01-01T00:15:00Z", overdue: false };
  assert.deepEqual(slaState(item, Date.parse("2026-01-01T00:05:00Z")), { state: "ok", text: "10:00 left" });
  assert.equal(slaState(item, Date.parse("2026-01-01T00:14:00Z")).state, "soon");
  const late = { ...item, overdue: true, escalated_at: "2026-01-01T00:15:30Z" };
  assert.deepEqual(slaState(late, Date.parse("2026-01-01T00:18:00Z")), { state: "overdue", text: "Overdue 3 min · escalated" });
});
