"""Settings: the only module that reads ``os.environ``.

Every knob comes from the environment through the tiny typed helpers below, with
the embedded default in one place. Secrets may also come from ``<NAME>_FILE``.
README lists every variable with its default.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF

# Lets model admin classes and querysets be subscripted (ModelAdmin[Pattern]) at run time, as
# the type checker reads them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    """``$NAME``, else the contents of the file named by ``$NAME_FILE``, else ``default``."""
    if name in os.environ:
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return default


def env_bool(name: str, default: bool = False) -> bool:
    value = env_str(name, "")
    if not value:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env_str(name, "")
    return int(value) if value.strip() else default


def env_float(name: str, default: float) -> float:
    value = env_str(name, "")
    return float(value) if value.strip() else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- Core -------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
# The embedded default must start with no configuration at all; a real deployment sets
# SECRET_KEY (or SECRET_KEY_FILE). An unset key outside DEBUG is fine for the local demo
# but never for a public host, which is why ALLOWED_HOSTS defaults to local names only.
SECRET_KEY = env_str("SECRET_KEY", "dev-insecure-change-me-" + "x" * 32)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
# Browsers must send one of these Origins on the WebSocket handshake (cross-site
# WebSocket hijacking protection; API clients with a Bearer key may omit Origin).
# Empty = derived from ALLOWED_HOSTS, any scheme and port.
WS_ALLOWED_ORIGINS = env_list("WS_ALLOWED_ORIGINS", "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "axes",
    "chat",
    "guardrails",
    "review",
]

MIDDLEWARE = [
    "config.request_id.RequestIdMiddleware",  # first: every later log line carries the id
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After CSRF: a sign-in too soon after the last failures is refused before it is checked.
    "config.middleware.SignInSlowdownMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Reuse connections: opening one per ORM call (and, on SQLite, checkpointing the WAL
        # at each close) cost a third of the CPU of a busy server.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Many turns write at once; WAL + a busy timeout keep SQLite from "database is locked". A
    # transaction takes the write lock when it begins (IMMEDIATE): one that read first and then
    # wrote after another connection's commit would fail at once instead of waiting its turn.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", "") or None}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# django-axes first: it refuses a locked-out sign-in before the password is even checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "static"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Behind a TLS-terminating proxy: the header it sets to say the client used HTTPS (e.g.
# "X-Forwarded-Proto"); only set it if the proxy always overwrites that header.
_TLS_PROXY_HEADER = env_str("SECURE_PROXY_SSL_HEADER", "")
if _TLS_PROXY_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _TLS_PROXY_HEADER.upper().replace("-", "_"), "https")
# HSTS is sent on HTTPS responses only, so the default is safe for plain-HTTP development.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Served over HTTPS only: the session and CSRF cookies never travel in clear text.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", SECURE_SSL_REDIRECT)

# django-csp: scripts and styles from this origin only (no inline code, no eval), nothing may
# frame the pages, and the browser may connect only back here (config/middleware.py adds the
# page's own ws:// or wss:// origin). The favicon is a data: URI.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# LOG_FORMAT: "plain" (default) or "json" (one object per line with request, conversation and
# message ids; observability/logs.py). The ids are on plain lines too, as req=.
LOG_FORMAT = env_str("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ValueError(f"LOG_FORMAT must be 'plain' or 'json', not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"ids": {"()": "observability.logs.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s]: %(message)s"},
        "json": {"()": "observability.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["ids"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Metrics (/metrics, observability/metrics.py) -------------------------------------------

# Set: `Authorization: Bearer <token>` is required at /metrics. Unset: open (keep the port private).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# Where the processes of one host write their metrics so that any of them serves the sum
# (prometheus_client reads this variable itself; scripts/run.py and compose set and empty it).
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")

# --- Redis: channel layer and Celery ----------------------------------------------------

REDIS_URL = env_str("REDIS_URL", "")


def redis_channel_layer(url: str, **config: object) -> dict[str, object]:
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 times reads out after 5 s by default, exactly as long as the layer's
            # own blocking receive waits: an idle socket would crash. Allow more.
            "hosts": [{"address": url, "socket_timeout": 15, "health_check_interval": 10}],
            "capacity": 1000,
            "expiry": 60,
            **config,
        },
    }


if REDIS_URL:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
else:
    # Embedded default: one process, nothing to install.
    CHANNEL_LAYERS = {"default": {"BACKEND": "chat.layers.SweepingInMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}

# The cache holds sign-in failure counts (django-axes, chat/throttle.py): in Redis they are
# shared by every process; without REDIS_URL each process counts on its own (one process is
# the embedded default).
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300)}

# --- LLM backend (chat/llm.py) ----------------------------------------------------------

LLM_BASE_URL = env_str("LLM_BASE_URL", "")
LLM_API = env_str("LLM_API", "chat")
LLM_MODEL = env_str("LLM_MODEL", "tgi")
LLM_API_KEY = env_str("LLM_API_KEY", "")
LLM_MAX_NEW_TOKENS = env_int("LLM_MAX_NEW_TOKENS", 512)
LLM_TEMPERATURE = env_float("LLM_TEMPERATURE", 0.0) or None  # unset/0 = greedy
LLM_SYSTEM_PROMPT = env_str(
    "LLM_SYSTEM_PROMPT",
    "You are a helpful, concise customer-support assistant. Answer in plain text.",
)
LLM_PROMPT_TEMPLATE = env_str("LLM_PROMPT_TEMPLATE", "chatml")
LLM_CONNECT_TIMEOUT = env_float("LLM_CONNECT_TIMEOUT", 5.0)
# Longer than TGI's 15 s keep-alive, so a queued request is not cut.
LLM_READ_TIMEOUT = env_float("LLM_READ_TIMEOUT", 20.0)
LLM_TOTAL_TIMEOUT = env_float("LLM_TOTAL_TIMEOUT", 300.0)
LLM_HISTORY_MESSAGES = env_int("LLM_HISTORY_MESSAGES", 20)
# Estimated cost per 1,000 tokens (any currency; 0 = not estimated): metrics and the usage page.
LLM_COST_PER_1K_INPUT = env_float("LLM_COST_PER_1K_INPUT", 0.0)
LLM_COST_PER_1K_OUTPUT = env_float("LLM_COST_PER_1K_OUTPUT", 0.0)

# --- Chat protocol ----------------------------------------------------------------------

CHAT_MAX_FRAME_BYTES = env_int("CHAT_MAX_FRAME_BYTES", 64 * 1024)
CHAT_RATE_LIMIT_PER_MINUTE = env_int("CHAT_RATE_LIMIT_PER_MINUTE", 30)
# Events are stored in batches, never per token: at most this long after publication.
CHAT_EVENT_FLUSH_MS = env_int("CHAT_EVENT_FLUSH_MS", 500)
# Tokens (in + out) one user may use per UTC day; past it a new turn is refused. 0 = no limit.
CHAT_DAILY_TOKEN_BUDGET = env_int("CHAT_DAILY_TOKEN_BUDGET", 0)
# Turns one process runs at once; past it a new message gets backend_overloaded at once (with
# retry_after) instead of CPU-starved checks timing out into refusals or holds. 0 = no cap.
CHAT_MAX_RUNNING_TURNS = env_int("CHAT_MAX_RUNNING_TURNS", 100)
CHAT_OVERLOAD_RETRY_AFTER = env_int("CHAT_OVERLOAD_RETRY_AFTER", 5)
# Admission by load: refuse new turns while the event loop runs this far behind (0: never),
# before the running replies' checks (GUARDRAILS_CHECK_TIMEOUT, 2 s) start timing out.
CHAT_MAX_LOOP_LAG_MS = env_int("CHAT_MAX_LOOP_LAG_MS", 1000)
# A running turn's lease: its process renews it every CHAT_TURN_HEARTBEAT_SECONDS; any process
# treats a reply whose lease ran out as dead (its server crashed), marks it failed and moves on.
CHAT_TURN_HEARTBEAT_SECONDS = env_float("CHAT_TURN_HEARTBEAT_SECONDS", 3.0)
CHAT_TURN_LEASE_SECONDS = env_float("CHAT_TURN_LEASE_SECONDS", 12.0)
# How long a turn keeps retrying to store its events while the database is unreachable.
CHAT_STORE_RETRY_SECONDS = env_float("CHAT_STORE_RETRY_SECONDS", 30.0)
# Sockets re-check their credentials (API key, session, active user, permission) this often,
# besides being told at once when one is revoked.
CHAT_ACCESS_RECHECK_SECONDS = env_float("CHAT_ACCESS_RECHECK_SECONDS", 30.0)

# --- Guardrails ---------------------------------------------------------------------------
# (owned by guardrails/; every GUARDRAILS_* and TOXICITY_* knob lives here)

# false only to measure the relay alone (bench/relay.py): replies are shown unchecked
GUARDRAILS_ENABLED = env_bool("GUARDRAILS_ENABLED", True)
GUARDRAILS_CHUNK_MAX_CHARS = env_int("GUARDRAILS_CHUNK_MAX_CHARS", 200)
# Chunks also close on time, at a word boundary: the first one after 50 ms or 20 characters
# (first text shows fast), later ones after 1.5 s (about a sentence; reading hides the wait).
GUARDRAILS_FIRST_CHUNK_MS = env_float("GUARDRAILS_FIRST_CHUNK_MS", 50.0)
GUARDRAILS_FIRST_CHUNK_CHARS = env_int("GUARDRAILS_FIRST_CHUNK_CHARS", 20)
GUARDRAILS_CHUNK_MAX_MS = env_float("GUARDRAILS_CHUNK_MAX_MS", 1500.0)
GUARDRAILS_CONTEXT_CHARS = env_int("GUARDRAILS_CONTEXT_CHARS", 120)
GUARDRAILS_ON_FAIL = env_str("GUARDRAILS_ON_FAIL", "hold_rest")
GUARDRAILS_MAX_INPUT_CHARS = env_int("GUARDRAILS_MAX_INPUT_CHARS", 4000)
GUARDRAILS_ALLOWED_DOMAINS = env_list("GUARDRAILS_ALLOWED_DOMAINS", "example.com")
GUARDRAILS_ALLOWED_CONTACTS = env_list("GUARDRAILS_ALLOWED_CONTACTS", "support@example.com")
GUARDRAILS_CHECK_TIMEOUT = env_float("GUARDRAILS_CHECK_TIMEOUT", 2.0)
# What a check's own error or timeout does: "closed" holds the text, "open" releases it.
GUARDRAILS_FAIL_MODE_TOXICITY = env_str("GUARDRAILS_FAIL_MODE_TOXICITY", "closed")
GUARDRAILS_FAIL_MODE_PATTERNS = env_str("GUARDRAILS_FAIL_MODE_PATTERNS", "closed")
# Bounds one staff-written regex on one chunk (catastrophic backtracking): an "error" verdict.
GUARDRAILS_REGEX_TIMEOUT = env_float("GUARDRAILS_REGEX_TIMEOUT", 0.25)
# An edit made in another process reaches this one within this many seconds (same process: at once).
GUARDRAILS_PATTERNS_RECHECK_S = env_float("GUARDRAILS_PATTERNS_RECHECK_S", 2.0)
GUARDRAILS_PLACEHOLDER = env_str("GUARDRAILS_PLACEHOLDER", "[held for review]")
# `evaluate_guardrails --out` reports (comma-separated paths) whose sweeps the calibration
# report (manage.py guardrails_report, /console/usage/) turns into threshold suggestions.
GUARDRAILS_EVAL_REPORTS = env_list("GUARDRAILS_EVAL_REPORTS", "")


def llm_is_local(url: str) -> bool:
    """Whether the LLM server is on this host or a private network: empty (the embedded
    llama.cpp), ``localhost``, a loopback/private/link-local address, or a single-label name
    such as compose's ``tgi`` (resolved by a private DNS). Names are never resolved here."""
    host = urlsplit(url).hostname or ""
    if not url or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host
    return address.is_loopback or address.is_private or address.is_link_local


# Personal data (e-mails, phones, cards, IBANs, national ids) sent to the LLM: "mask" replaces it
# by placeholders restored in what the user sees (guardrails/pii.py), "off" sends it as typed.
# Default: masked whenever the LLM server is not local or private (a hosted endpoint).
GUARDRAILS_PII = env_str("GUARDRAILS_PII").strip().lower() or ("off" if llm_is_local(LLM_BASE_URL) else "mask")
if GUARDRAILS_PII not in {"off", "mask"}:
    raise ValueError(f"GUARDRAILS_PII must be 'off' or 'mask', not {GUARDRAILS_PII!r}")
# Detoxify: original | unbiased | multilingual | original-small | unbiased-small; or
# hf:/path/to/folder, any local Hugging Face text-classification model.
TOXICITY_MODEL = env_str("TOXICITY_MODEL", "unbiased")
# For hf: models: "model_label=our_label,..." (e.g. "LABEL_1=toxicity,LABEL_0="; empty drops a
# label), and how logits become scores: auto | sigmoid | softmax.
TOXICITY_HF_LABELS = env_str("TOXICITY_HF_LABELS", "")
TOXICITY_HF_ACTIVATION = env_str("TOXICITY_HF_ACTIVATION", "auto")
# Air-gapped hosts: a local Detoxify .ckpt and a folder with the base model's config + tokenizer.
TOXICITY_CHECKPOINT = env_str("TOXICITY_CHECKPOINT", "")
TOXICITY_CONFIG_DIR = env_str("TOXICITY_CONFIG_DIR", "")
TOXICITY_DEVICE = env_str("TOXICITY_DEVICE", "cpu")  # e.g. "cuda" where a GPU is available
# No Detoxify weights: "profanity_check" (alt-profanity-check, logged and reported) or "none" (refuse to start).
TOXICITY_FALLBACK = env_str("TOXICITY_FALLBACK", "profanity_check")
# "label=threshold,..." over the defaults in guardrails/conf.py (e.g. "insult=0.6,profanity=0.85").
TOXICITY_THRESHOLDS = env_str("TOXICITY_THRESHOLDS", "")
# onnx: the transformer model exported once, int8-quantized, served by ONNX Runtime (several
# times torch's throughput on CPU; README "Performance"); torch: as loaded. Cached by checksum.
TOXICITY_RUNTIME = env_str("TOXICITY_RUNTIME", "onnx")
TOXICITY_THREADS = env_int("TOXICITY_THREADS", 0)  # 0: every CPU the process may use
TOXICITY_ONNX_CACHE = env_str("TOXICITY_ONNX_CACHE", str(BASE_DIR / "var" / "onnx"))
TOXICITY_BATCH_MAX = env_int("TOXICITY_BATCH_MAX", 32)
TOXICITY_BATCH_WAIT_MS = env_float("TOXICITY_BATCH_WAIT_MS", 5.0)

# --- Review loop ------------------------------------------------------------------------

REVIEW_SLA_MINUTES = env_int("REVIEW_SLA_MINUTES", 15)
REVIEW_EXPIRE_HOURS = env_int("REVIEW_EXPIRE_HOURS", 24)
REVIEW_EXPIRE_DECISION = env_str("REVIEW_EXPIRE_DECISION", "rejected")
REVIEW_REJECT_TEXT = env_str(
    "REVIEW_REJECT_TEXT",
    "This part of the reply was removed by our review team. Please contact support if you need more help.",
)
# A claim lapses after this many minutes without activity by its holder; then anyone may take it.
REVIEW_CLAIM_MINUTES = env_int("REVIEW_CLAIM_MINUTES", 10)
# Celery beat (`celery -A config beat`, or `worker -B`): escalate overdue items, expire stale ones.
REVIEW_ESCALATE_EVERY_S = env_float("REVIEW_ESCALATE_EVERY_S", 60.0)
CELERY_BEAT_SCHEDULE = {
    "escalate-reviews": {"task": "review.tasks.escalate_reviews", "schedule": REVIEW_ESCALATE_EVERY_S},
}

# --- Sign-in throttling (django-axes for passwords, chat/throttle.py for API keys) ---------

# After this many failed sign-ins for one username, or from one address, sign-in is refused,
# even with the right password, until AUTH_LOCKOUT_MINUTES pass without another failure.
AUTH_FAILURE_LIMIT = env_int("AUTH_FAILURE_LIMIT", 10)
AUTH_LOCKOUT_MINUTES = env_float("AUTH_LOCKOUT_MINUTES", 15.0)
# Before that, slowed: from the AUTH_SLOW_AFTER-th failure on, the next attempt is refused
# (HTTP 429, "try again in N seconds") until 1 s, then 2, 4 … at most AUTH_SLOW_MAX_SECONDS
# have passed since the last failure (chat/throttle.py). Nothing sleeps.
AUTH_SLOW_AFTER = env_int("AUTH_SLOW_AFTER", 3)
AUTH_SLOW_MAX_SECONDS = env_float("AUTH_SLOW_MAX_SECONDS", 30.0)
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = AUTH_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=AUTH_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one alone locks
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "chat.views.sign_in_locked"
if not REDIS_URL:
    # axes warns that a local-memory cache counts per process; the embedded default is one
    # process, and with REDIS_URL the counts live in Redis for every process.
    SILENCED_SYSTEM_CHECKS = ["axes.W001"]

# --- Demo (make run) --------------------------------------------------------------------

DEMO_USERNAME = env_str("DEMO_USERNAME", "demo")
