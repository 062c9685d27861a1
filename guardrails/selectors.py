"""Reads for guardrails."""

from __future__ import annotations

import threading
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Count, Max, Sum
from django.db.models.signals import post_delete, post_save

from guardrails import conf
from guardrails.checks.patterns import PatternRules, rules_from_mappings
from guardrails.models import ModerationEvent, Pattern

_RULE_FIELDS = ("id", "name", "kind", "expression", "severity", "applies_to", "version")

_lock = threading.Lock()
_rules: PatternRules | None = None
_checked_at = float("-inf")
_dirty = True
# Bumped by every forget: a load that started before an edit does not count as fresh.
_generation = 0


def pattern_rules() -> PatternRules:
    """The enabled patterns as plain data, re-read only when the table changed.

    One cheap aggregate (row count, sum of versions, latest edit) is the stamp; the rows are
    loaded again only when it differs from the cached one.
    """
    global _rules
    agg = Pattern.objects.aggregate(n=Count("id"), v=Sum("version"), u=Max("updated_at"))
    stamp = (agg["n"], agg["v"], agg["u"].isoformat() if agg["u"] else None)
    cached = _rules
    if cached is not None and cached.stamp == stamp:
        return cached
    rows = Pattern.objects.filter(enabled=True).order_by("id").values(*_RULE_FIELDS)
    fresh = rules_from_mappings(rows, stamp=stamp)
    _rules = fresh
    return fresh


_DEFAULT_RECHECK_S = conf.GuardrailsSettings().patterns_recheck_s


async def apattern_rules() -> PatternRules:
    """:func:`pattern_rules` for async callers, asking the database at most once per
    ``GUARDRAILS_PATTERNS_RECHECK_S`` (edits in another process show up within that), and
    at once after an edit in this process.

    The cache counts as fresh only once a load has finished: checks that start while one is
    in flight load too (a cheap aggregate) rather than use the rules from before the edit.
    """
    global _checked_at, _dirty
    # Read on every call (tests override it), but not through conf.load(): this runs once per
    # checked chunk, and building every guardrails setting costs 30 us.
    recheck = float(getattr(settings, "GUARDRAILS_PATTERNS_RECHECK_S", _DEFAULT_RECHECK_S))
    started = time.monotonic()
    with _lock:
        if not _dirty and _rules is not None and started - _checked_at < recheck:
            return _rules
        generation = _generation
    rules = await sync_to_async(pattern_rules)()
    with _lock:
        if generation == _generation:  # no edit while loading
            _dirty, _checked_at = False, started
    return rules


def forget_pattern_rules(*_: Any, **__: Any) -> None:
    """Make the next :func:`apattern_rules` ask the database (connected to Pattern's
    post_save/post_delete below; tests call it too)."""
    global _dirty, _generation
    with _lock:
        _dirty = True
        _generation += 1


# An edit in this process takes effect on the very next check (other processes notice within
# GUARDRAILS_PATTERNS_RECHECK_S). Connected where the cache lives: a process that never imported
# this module has no cache to forget.
post_save.connect(forget_pattern_rules, sender=Pattern, dispatch_uid="guardrails-patterns-saved")
post_delete.connect(forget_pattern_rules, sender=Pattern, dispatch_uid="guardrails-patterns-deleted")


def moderation_events_for_message(*, message_id: int) -> list[ModerationEvent]:
    return list(ModerationEvent.objects.filter(message_id=message_id).select_related("pattern"))
