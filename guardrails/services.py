"""Writes for guardrails. Keyword-only, typed, atomic."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from django.db import transaction

from guardrails.audit import audit_moderation_events
from guardrails.checks import Verdict
from guardrails.models import ModerationEvent, Pattern

Action = Literal["hold", "flag", "refuse"]


@transaction.atomic
def moderation_events_record(
    *, message_id: int, verdicts: Iterable[Verdict], action: Action | None = None
) -> list[ModerationEvent]:
    """Store one event per verdict (pass the verdicts that held, flagged or refused).

    ``action=None`` derives it per verdict from its severity (hold → ``hold``, flag →
    ``flag``), which suits a ``Hold`` whose ``reasons`` and ``flags`` are recorded together.
    A pattern deleted since it fired is kept by name and version only.
    """
    verdicts = list(verdicts)
    pattern_ids = {v.detail.get("pattern_id") for v in verdicts} - {None}
    existing = set(Pattern.objects.filter(id__in=pattern_ids).values_list("id", flat=True)) if pattern_ids else set()
    events = []
    for v in verdicts:
        pattern_id = v.detail.get("pattern_id")
        events.append(
            ModerationEvent(
                message_id=message_id,
                check_name=v.check,
                label=v.label,
                score=float(v.score),
                span_start=max(0, v.span[0]),
                span_end=max(0, v.span[1]),
                severity=v.severity,
                action=action or ("hold" if v.severity == "hold" else "flag"),
                model_name=str(v.detail.get("model", "")),
                model_version=str(v.detail.get("model_version", "")),
                pattern_id=pattern_id if pattern_id in existing else None,
                pattern_version=v.detail.get("pattern_version"),
                detail=dict(v.detail),
            )
        )
    stored = ModerationEvent.objects.bulk_create(events)
    # Evidence goes on the hash-chained audit trail too, in the same transaction.
    audit_moderation_events(stored)
    return stored
