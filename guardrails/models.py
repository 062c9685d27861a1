"""The hallucination-pattern library, the record of every hold, flag and refusal, and the
tamper-evident audit trail (appended here for moderation events and by the review app for its
actions; the review queue itself is ``review.ReviewItem``).
"""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models

from guardrails import conf
from guardrails.checks.detectors import DetectorConfig
from guardrails.checks.patterns import Kind as PatternKind
from guardrails.checks.patterns import PatternRule, example_failures


class Pattern(models.Model):
    """A rule of the pattern check, edited by staff in the admin.

    ``tests`` is ``{"must_match": [texts], "must_not_match": [texts]}``; saving validates the
    rule against them (and that it compiles), so a broken rule never reaches the checker.
    ``version`` goes up on every save of an existing row; the checker recompiles a rule when its
    version changes and events record the version that fired.
    """

    class Kind(models.TextChoices):
        REGEX = "regex", "Regular expression"
        DETECTOR = "detector", "Named detector"

    class Severity(models.TextChoices):
        HOLD = "hold", "Hold (withhold the text)"
        FLAG = "flag", "Flag (show it, queue the reply for review)"

    class AppliesTo(models.TextChoices):
        OUTPUT = "output", "Assistant replies"
        INPUT = "input", "Users' messages"
        BOTH = "both", "Both"

    name = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.REGEX)
    expression = models.TextField(
        help_text="A regular expression (matched case-insensitively; (?-i) turns that off) or, for a named "
        "detector, its name: unlisted_link, phone_number, email_address."
    )
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.HOLD)
    applies_to = models.CharField(max_length=8, choices=AppliesTo.choices, default=AppliesTo.OUTPUT)
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True, help_text="What this catches and why, for reviewers.")
    tests = models.JSONField(
        default=dict,
        blank=True,
        help_text='Examples checked on save: {"must_match": ["..."], "must_not_match": ["..."]}.',
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Validate here, not only in the admin form, so no code path stores a broken rule.
        self.full_clean()
        if not self._state.adding:
            self.version += 1
        super().save(*args, **kwargs)

    def clean(self) -> None:
        tests = self.tests or {}
        if not isinstance(tests, dict) or set(tests) - {"must_match", "must_not_match"}:
            raise ValidationError({"tests": 'Use {"must_match": [...], "must_not_match": [...]}.'})
        examples = {key: tests.get(key, []) for key in ("must_match", "must_not_match")}
        for key, texts in examples.items():
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ValidationError({"tests": f"{key} must be a list of texts."})
        cfg = conf.load()
        # kind is one of Kind's values (choices, validated by full_clean before clean runs).
        rule = PatternRule(name=self.name, kind=cast(PatternKind, self.kind), expression=self.expression)
        detectors = DetectorConfig(allowed_domains=cfg.allowed_domains, allowed_contacts=cfg.allowed_contacts)
        problems = example_failures(rule, examples["must_match"], examples["must_not_match"], detectors)
        if problems:
            raise ValidationError({"expression": problems})


class ModerationEvent(models.Model):
    """One verdict that held, flagged or refused something, as a reviewer needs to see it."""

    class Action(models.TextChoices):
        HOLD = "hold"
        FLAG = "flag"
        REFUSE = "refuse"

    message = models.ForeignKey("chat.Message", on_delete=models.CASCADE, related_name="moderation_events")
    # "check" would shadow Model.check(), Django's system-check hook.
    check_name = models.CharField(max_length=32)
    label = models.CharField(max_length=80)
    score = models.FloatField()
    span_start = models.PositiveIntegerField()
    span_end = models.PositiveIntegerField()
    severity = models.CharField(max_length=8, choices=Pattern.Severity.choices)
    action = models.CharField(max_length=8, choices=Action.choices)
    model_name = models.CharField(max_length=120, blank=True)
    model_version = models.CharField(max_length=120, blank=True)
    pattern = models.ForeignKey(Pattern, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    pattern_version = models.PositiveIntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["message", "id"]), models.Index(fields=["check_name", "label"])]

    def __str__(self) -> str:
        return f"{self.action} {self.check_name}/{self.label} on message {self.message_id}"


class AuditEntry(models.Model):
    """An append-only, hash-chained record: each entry stores the hash of the one before.

    ``hash`` is SHA-256 over the canonical JSON of (seq, kind, actor, subject, payload,
    created_at, prev_hash), so altering, removing or reordering a row breaks the chain from
    there on; ``manage.py verify_audit`` finds the first such entry. Written only by
    ``guardrails.audit.audit_append``; the ORM refuses to update or delete rows.
    """

    class Kind(models.TextChoices):
        MODERATION_EVENT = "moderation_event"
        QUEUED = "queued"
        CLAIM = "claim"
        RELEASE = "release"
        DECISION = "decision"
        ESCALATION = "escalation"
        EXPIRY = "expiry"

    seq = models.PositiveBigIntegerField(unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # "user:<id>:<username>" or "system": a string, so deleting a user never rewrites the trail.
    actor = models.CharField(max_length=200)
    subject = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["seq"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["subject", "seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind} {self.subject}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("Audit entries are append-only.")
