"""Every Prometheus metric of the product, defined once (served at ``/metrics``).

Multiprocess: when ``PROMETHEUS_MULTIPROC_DIR`` is set before this module is first imported
(``scripts/run.py`` and compose set it and empty it at start), each process writes its values
to files there and a scrape of any process adds them all up; gauges use ``livesum`` (the sum
over live processes). Unset (tests, ``manage.py runserver``): the process's own registry.

Recording is cheap by contract: at most one observation per chunk, per turn or per decision,
never per token. Names follow Prometheus conventions: the unit in the name (``_seconds``,
``_tokens``), ``_total`` on counters (the client adds it to the names below). Label values are
bounded: check names, toxicity labels and pattern names (staff-defined rows), error codes,
statuses and model names.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Seconds a person waits: first text, gaps between chunks, moderation of one chunk.
_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
# Minutes to hours: time to a reviewer's decision.
_DECISION_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 24 * 3600.0)

# --- Turns (chat) -----------------------------------------------------------------------

FIRST_SHOWN_TEXT = Histogram(
    "chat_first_shown_text_seconds",
    "From a turn's start to the first checked text shown to the user.",
    buckets=_LATENCY_BUCKETS,
)
SHOWN_CHUNK_GAP = Histogram(
    "chat_shown_chunk_gap_seconds",
    "Between two consecutive chunks of shown text in one reply.",
    buckets=_LATENCY_BUCKETS,
)
TURNS = Counter("chat_turns", "Turns ended, by final status.", ["status"])
TURNS_RUNNING = Gauge("chat_turns_running", "Turns generating now.", multiprocess_mode="livesum")
INPUT_REFUSALS = Counter(
    "chat_input_refusals",
    "User messages refused before the LLM was called, by check and label (length, budget, toxicity...).",
    ["check", "label"],
)
BACKEND_ERRORS = Counter("chat_backend_errors", "Turns failed by the LLM backend, by error code.", ["code"])
SOCKETS_OPEN = Gauge(
    "chat_sockets_open",
    "Open WebSockets, by kind (chat, console).",
    ["kind"],
    multiprocess_mode="livesum",
)
EVENT_LOOP_LAG = Histogram(
    "chat_event_loop_lag_seconds",
    "How late the event loop ran a probe woken every 50 ms (chat/loadwatch.py): what every callback waits.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
)
TURNS_REFUSED = Counter(
    "chat_turns_refused_overloaded",
    "New turns refused with backend_overloaded, by reason: running (CHAT_MAX_RUNNING_TURNS), lag "
    "(CHAT_MAX_LOOP_LAG_MS).",
    ["reason"],
)
RATINGS = Counter("chat_ratings", "Ratings users gave replies, by value (up, down) and reason.", ["value", "reason"])

# --- LLM usage --------------------------------------------------------------------------

INPUT_TOKENS = Counter("llm_input_tokens", "Prompt tokens sent to the LLM, by model.", ["model"])
OUTPUT_TOKENS = Counter("llm_output_tokens", "Tokens the LLM generated, by model.", ["model"])
ESTIMATED_COST = Counter(
    "llm_estimated_cost",
    "Estimated LLM cost (LLM_COST_PER_1K_INPUT/OUTPUT; in their currency), by model.",
    ["model"],
)

# --- Moderation (recorded by the turn, which sees every checked chunk) ---------------------

MODERATION_DELAY = Histogram(
    "guardrails_moderation_delay_seconds",
    "From a chunk's close to its release or hold: the wait the checks add.",
    buckets=_LATENCY_BUCKETS,
)
CHUNKS_CHECKED = Counter("guardrails_chunks_checked", "Reply chunks checked (released or held).")
CHUNKS_HELD = Counter(
    "guardrails_chunks_held", "Reply chunks held, by failing check and label (pattern name).", ["check", "label"]
)
CHUNKS_FLAGGED = Counter(
    "guardrails_chunks_flagged",
    "Reply chunks released but flagged for review, by check and label (pattern name).",
    ["check", "label"],
)

# --- Review loop --------------------------------------------------------------------------

REVIEW_DECISION_TIME = Histogram(
    "review_time_to_decision_seconds",
    "From a review item's creation to its decision (by a person or by expiry).",
    ["decision"],
    buckets=_DECISION_BUCKETS,
)
REVIEW_SLA_BREACHES = Counter("review_sla_breaches", "Review items that passed their SLA deadline undecided.")
USER_REPORTS = Counter("review_user_reports", "Replies users reported to the review queue, by reason.", ["reason"])

# Queue depth and the oldest pending item's age are read from the database at scrape time
# (review.metrics.QueueCollector): exact, and nothing to keep in step across processes.
QUEUE_DEPTH_NAME = "review_queue_depth"
QUEUE_OLDEST_NAME = "review_queue_oldest_pending_age_seconds"
