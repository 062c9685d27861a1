"""The append-only audit trail: every moderation event and every review action, chained by hash.

Each entry stores the previous entry's hash and its own hash over the canonical JSON of its
fields plus that previous hash, so changing, deleting or reordering any row breaks the chain
at that row (``audit_verify``, ``manage.py verify_audit``). Appends are serialised (a
Postgres advisory lock held to the end of the caller's transaction; elsewhere a lock on the
current tail row, backed by the unique ``seq``), so two concurrent appends cannot fork it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from guardrails.models import AuditEntry, ModerationEvent

GENESIS_HASH = "0" * 64
# Any constant unique to this lock: "audit" in ASCII.
_ADVISORY_LOCK_KEY = 0x6175646974


def actor_label(user: User | None) -> str:
    """``user:<id>:<username>`` for a person, ``system`` for tasks."""
    if user is None:
        return "system"
    return f"user:{user.pk}:{user.get_username()}"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(entry: AuditEntry) -> str:
    """The hash an entry must carry: its fields and the previous entry's hash, canonical JSON.

    The one place that names the hashed fields, so appending and verifying cannot disagree.
    """
    body = {
        "seq": entry.seq,
        "kind": entry.kind,
        "actor": entry.actor,
        "subject": entry.subject,
        "payload": entry.payload,
        "created_at": entry.created_at.isoformat(),
        "prev_hash": entry.prev_hash,
    }
    return hashlib.sha256(_canonical(body).encode()).hexdigest()


def _lock_tail() -> AuditEntry | None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])
        return AuditEntry.objects.order_by("-seq").first()
    # SQLite serialises writers; the unique seq refuses a fork anywhere else.
    return AuditEntry.objects.select_for_update().order_by("-seq").first()


@transaction.atomic
def audit_append(*, kind: str, actor: User | None, subject: str, payload: dict[str, Any]) -> AuditEntry:
    """Add one entry after the current tail, inside the caller's transaction."""
    tail = _lock_tail()
    seq = tail.seq + 1 if tail else 1
    prev_hash = tail.hash if tail else GENESIS_HASH
    entry = AuditEntry(
        seq=seq,
        kind=kind,
        actor=actor_label(actor),
        subject=subject,
        # Stored JSON must read back exactly as hashed: normalise through JSON first.
        payload=json.loads(_canonical(payload)),
        prev_hash=prev_hash,
        created_at=timezone.now(),
    )
    entry.hash = entry_hash(entry)
    entry.save(force_insert=True)
    return entry


def audit_moderation_events(events: Iterable[ModerationEvent]) -> None:
    """One ``moderation_event`` entry per stored event (called where events are recorded)."""
    for event in events:
        audit_append(
            kind=AuditEntry.Kind.MODERATION_EVENT,
            actor=None,
            subject=f"message:{event.message_id}",
            payload={
                "moderation_event": event.pk,
                "action": event.action,
                "check": event.check_name,
                "label": event.label,
                "score": event.score,
                "span": [event.span_start, event.span_end],
                "severity": event.severity,
                "model": event.model_name,
                "model_version": event.model_version,
                "pattern": event.pattern_id,
                "pattern_version": event.pattern_version,
            },
        )


@dataclass(frozen=True)
class AuditBreak:
    """The first entry where the chain does not hold, and why."""

    seq: int
    entry_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"entry seq={self.seq}" + (f" (id {self.entry_id})" if self.entry_id is not None else "")
        return f"{where}: {self.problem}"


def audit_verify(*, batch_size: int = 2000) -> AuditBreak | None:
    """Walk the trail in order; the first broken entry, or None when the chain holds."""
    expected_seq, prev_hash = 1, GENESIS_HASH
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=batch_size):
        if entry.seq != expected_seq:
            return AuditBreak(
                expected_seq, None, f"missing; the next entry present is seq={entry.seq} (rows were deleted)"
            )
        if entry.prev_hash != prev_hash:
            return AuditBreak(entry.seq, entry.pk, "prev_hash does not match the previous entry's hash")
        if entry_hash(entry) != entry.hash:
            return AuditBreak(entry.seq, entry.pk, "hash does not match its contents (the row was altered)")
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    return None


def audit_count() -> int:
    return AuditEntry.objects.count()
