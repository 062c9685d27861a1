"""``manage.py guardrails_report``: what reviewers' decisions say about the checks (suggestions only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from review import usage


class Command(BaseCommand):
    help = (
        "Per check, label and pattern: holds, overturned (approved or edited) and confirmed (rejected) "
        "over a period; the patterns reviewers overturn most; for toxicity labels, the threshold that "
        "would have kept the chosen precision, from decisions and from evaluate_guardrails reports. "
        "Suggestions only: a person changes thresholds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30, help="the period, in days back from now (default 30)")
        parser.add_argument(
            "--precision", type=float, default=usage.DEFAULT_PRECISION, help="target precision (default 0.9)"
        )
        parser.add_argument(
            "--eval-report",
            type=Path,
            action="append",
            default=[],
            help="an evaluate_guardrails --out report (repeatable; default: GUARDRAILS_EVAL_REPORTS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 < options["precision"] <= 1:
            raise CommandError("--precision must be between 0 and 1, e.g. 0.9")
        reports = None
        if options["eval_report"]:
            try:
                reports = [(p.name, json.loads(p.read_text(encoding="utf-8"))) for p in options["eval_report"]]
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read the evaluation report: {exc}") from None
        since = usage.period_start(options["days"])
        report = usage.calibration_report(since=since, precision=options["precision"], reports=reports)
        self.stdout.write(f"Since {since:%Y-%m-%d %H:%M} UTC ({options['days']} days)\n{report.text()}")
