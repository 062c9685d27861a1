"""The pattern library in the database: seeded, validated, edited live; events recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from guardrails import selectors, services
from guardrails.checks import Verdict
from guardrails.checks.patterns import PatternsChecker
from guardrails.library import SEED
from guardrails.models import ModerationEvent, Pattern
from tests.guardrails.conftest import DETECTORS


@pytest.fixture(autouse=True)
def forget_cached_rules() -> Iterator[None]:
    # Rolled-back test data sends no signals: start and end each test with an empty cache.
    selectors.forget_pattern_rules()
    yield
    selectors.forget_pattern_rules()


@pytest.mark.django_db
def test_the_default_library_is_seeded_and_valid() -> None:
    rows = {p.name: p for p in Pattern.objects.all()}
    assert {row["name"] for row in SEED} <= set(rows)
    # Migration 0004 brought every seeded row to the current library.
    assert {row["name"]: row["expression"] for row in SEED} == {
        row["name"]: rows[row["name"]].expression for row in SEED
    }
    for pattern in Pattern.objects.all():
        pattern.full_clean()  # every seeded rule compiles and passes its own examples


@pytest.mark.django_db
def test_saving_validates_and_bumps_the_version() -> None:
    pattern = Pattern.objects.get(name="claims-to-be-human")
    seeded = pattern.version  # 2: migration 0004 updated the seeded row
    pattern.description = "edited"
    pattern.save()
    pattern.refresh_from_db()
    assert pattern.version == seeded + 1

    pattern.expression = "(unclosed"
    with pytest.raises(ValidationError, match="invalid regular expression"):
        pattern.save()
    pattern.expression = r"\bnever matches its example\b"
    with pytest.raises(ValidationError, match="does not match its example"):
        pattern.save()
    with pytest.raises(ValidationError, match="unknown detector"):
        Pattern(name="x", kind="detector", expression="no_such_detector").save()


@pytest.mark.django_db
def test_the_admin_form_edits_a_pattern_and_rejects_a_broken_one(admin_client: Any) -> None:
    pattern = Pattern.objects.get(name="guarantee")
    seeded = pattern.version
    url = f"/admin/guardrails/pattern/{pattern.pk}/change/"
    form = {
        "name": pattern.name,
        "kind": pattern.kind,
        "expression": r"\bpinky swear\b",
        "severity": "flag",
        "applies_to": "output",
        "enabled": "on",
        "description": "edited in the admin",
        "tests": '{"must_match": ["I pinky swear."], "must_not_match": ["I promise."]}',
    }
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    pattern.refresh_from_db()
    assert (pattern.expression, pattern.severity, pattern.version) == (r"\bpinky swear\b", "flag", seeded + 1)

    response = admin_client.post(url, {**form, "tests": '{"must_match": ["no match here"]}'})
    assert response.status_code == 200
    assert "does not match its example" in response.content.decode()
    pattern.refresh_from_db()
    assert pattern.version == seeded + 1


@pytest.mark.usefixtures("seeded_library")
async def test_an_edit_takes_effect_without_a_restart() -> None:
    checker = PatternsChecker(selectors.apattern_rules, scope="output", detectors=DETECTORS)
    text = "Don't worry, I'm a real person. Ask me about pinky swears."

    async def labels() -> list[tuple[str, int]]:
        return [(v.label, v.detail["pattern_version"]) for v in await checker.check(text, context="", offset=0)]

    seeded = await Pattern.objects.aget(name="claims-to-be-human")
    assert await labels() == [("claims-to-be-human", seeded.version)]

    @sync_to_async
    def edit() -> None:
        human = Pattern.objects.get(name="claims-to-be-human")
        human.enabled = False
        human.save()
        Pattern.objects.create(
            name="pinky-swear",
            expression=r"\bpinky\s+swears?\b",
            tests={"must_match": ["a pinky swear"], "must_not_match": ["a pinky ring"]},
        )

    await edit()
    assert await labels() == [("pinky-swear", 1)]

    @sync_to_async
    def edit_again() -> None:
        swear = Pattern.objects.get(name="pinky-swear")
        swear.severity = "flag"
        swear.save()

    await edit_again()
    verdicts = await checker.check(text, context="", offset=0)
    assert [(v.label, v.severity, v.detail["pattern_version"]) for v in verdicts] == [("pinky-swear", "flag", 2)]


@pytest.mark.usefixtures("seeded_library")
async def test_rules_are_read_once_not_per_check(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = []
    real = selectors.pattern_rules

    def counting() -> Any:
        reads.append(1)
        return real()

    monkeypatch.setattr(selectors, "pattern_rules", counting)
    checker = PatternsChecker(selectors.apattern_rules, scope="output", detectors=DETECTORS)
    for _ in range(20):
        assert await checker.check("I am a person.", context="", offset=0)
    assert len(reads) == 1  # within GUARDRAILS_PATTERNS_RECHECK_S and with no local edit


@pytest.mark.usefixtures("seeded_library")
async def test_checks_that_start_while_the_rules_reload_never_get_the_old_rules() -> None:
    """Many replies are checked at once: all of them see an edit, not only the first."""
    await selectors.apattern_rules()

    @sync_to_async
    def disable() -> None:
        human = Pattern.objects.get(name="claims-to-be-human")
        human.enabled = False
        human.save()  # post_save: this process forgets its cached rules

    await disable()
    checker = PatternsChecker(selectors.apattern_rules, scope="output", detectors=DETECTORS)
    results = await asyncio.gather(*(checker.check("I am a real person.", context="", offset=0) for _ in range(8)))
    assert results == [[]] * 8


@pytest.mark.django_db
def test_moderation_events_record_what_a_reviewer_needs(alice: Any) -> None:
    from chat.models import Conversation, Message

    conversation = Conversation.objects.create(owner=alice)
    message = Message.objects.create(conversation=conversation, role="assistant", text="...")
    pattern = Pattern.objects.get(name="invented-phone-number")
    verdicts = [
        Verdict(
            "patterns",
            pattern.name,
            1.0,
            (10, 22),
            passed=False,
            detail={"pattern_id": pattern.pk, "pattern_version": pattern.version, "match": "555-123-4567"},
        ),
        Verdict(
            "toxicity",
            "insult",
            0.93,
            (30, 50),
            passed=False,
            detail={"model": "detoxify:unbiased", "model_version": "toxic_debiased-c7548aa0", "scores": {}},
        ),
        Verdict("patterns", "legal-or-medical-certainty", 1.0, (60, 70), passed=False, severity="flag"),
    ]
    events = services.moderation_events_record(message_id=message.pk, verdicts=verdicts)
    assert len(events) == 3
    rows = list(ModerationEvent.objects.filter(message=message).order_by("id"))
    assert [(e.check_name, e.label, e.action, e.span_start, e.span_end) for e in rows] == [
        ("patterns", "invented-phone-number", "hold", 10, 22),
        ("toxicity", "insult", "hold", 30, 50),
        ("patterns", "legal-or-medical-certainty", "flag", 60, 70),
    ]
    assert (rows[0].pattern, rows[0].pattern_version, rows[0].detail["match"]) == (
        pattern,
        pattern.version,
        "555-123-4567",
    )
    assert (rows[1].model_name, rows[1].model_version, rows[1].score) == (
        "detoxify:unbiased",
        "toxic_debiased-c7548aa0",
        0.93,
    )
    refused = services.moderation_events_record(message_id=message.pk, verdicts=verdicts[:1], action="refuse")
    assert refused[0].action == "refuse"
    message.delete()
    assert not ModerationEvent.objects.exists()


def test_library_v4_finds_exactly_what_v3_found_on_real_replies() -> None:
    """V4 only reorders work (a look-ahead before the look-behinds): on every agent and system
    reply of the public sets, and their normalized views, every rule finds the same matches at
    the same places."""
    import regex

    from guardrails import evaluation, library
    from guardrails.normalize import normalize

    def compiled(seed: tuple[dict[str, Any], ...]) -> dict[str, Any]:
        flags = regex.IGNORECASE | regex.VERSION0
        return {row["name"]: regex.compile(row["expression"], flags) for row in seed if row["kind"] == "regex"}

    v3, v4 = compiled(library.SEED_V3), compiled(library.SEED_V4)
    changed = sorted(name for name in v3 if v3[name].pattern != v4[name].pattern)
    assert changed == ["account-action-claimed", "guarantee", "refund-or-credit-granted"]
    public = Path(__file__).resolve().parents[2] / "eval" / "public"
    texts = [
        r.text
        for name in ("cucom-agent-replies-dev.jsonl.gz", "sgd-system-replies-dev.jsonl.gz")
        for r in evaluation.read_labelled(public / name)
    ]
    matched = dict.fromkeys(changed, 0)
    for text in texts:
        for view in {text, normalize(text).text}:
            for name in changed:
                spans = [m.span() for m in v4[name].finditer(view)]
                assert spans == [m.span() for m in v3[name].finditer(view)], (name, view)
                matched[name] += bool(spans)
    # The comparison saw real matches of each rule (their false holds on CUCOM).
    assert all(n > 40 for n in matched.values()), matched
