"""``manage.py moderate_texts FILE --out OUT.jsonl``: what moderation does with each text."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from guardrails import conf, evaluation, pipeline, wiring


class Command(BaseCommand):
    help = (
        "Stream each text (CSV or JSON lines with a 'text' field; labels optional) through the live moderation "
        "stages and write one JSON line per text: id, held, flagged, the shown text and the reasons."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help=".csv or .jsonl, optionally .gz")
        parser.add_argument("--out", type=Path, required=True, help="JSON lines, one per text, in input order")
        parser.add_argument("--limit", type=int, help="only the first N texts")
        parser.add_argument("--concurrency", type=int, default=32, help="texts moderated at once (default 32)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            items = evaluation.read_labelled(options["file"], require_label=False, limit=options["limit"])
        except (OSError, evaluation.EvaluationInputError) as exc:
            raise CommandError(str(exc)) from exc
        cfg = conf.load()
        checker = wiring.get_checker()
        outcomes = asyncio.run(
            evaluation.moderate_all(
                items,
                lambda: pipeline.moderation(cfg, checker),
                placeholder=settings.GUARDRAILS_PLACEHOLDER,
                concurrency=options["concurrency"],
            )
        )
        with options["out"].open("w", encoding="utf-8") as out:
            for item, outcome in zip(items, outcomes, strict=True):
                out.write(json.dumps(evaluation.outcome_row(item, outcome), ensure_ascii=False) + "\n")
        held = sum(o.held for o in outcomes)
        self.stdout.write(f"{len(items)} texts, {held} held; written to {options['out']}")
