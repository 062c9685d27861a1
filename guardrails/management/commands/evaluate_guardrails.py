"""``manage.py evaluate_guardrails FILE``: the moderation stages' figures on a labelled file."""

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
        "Stream each labelled text (CSV or JSON lines: text, label, optional span and category) as tokens "
        "through the live moderation stages; print and write held rate, precision/recall/F1 per check and "
        "category, unsafe spans shown, false holds with reasons and a toxicity threshold sweep."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help=".csv or .jsonl, optionally .gz")
        parser.add_argument("--out", type=Path, help="write the full report here as JSON")
        parser.add_argument("--limit", type=int, help="only the first N texts")
        parser.add_argument("--concurrency", type=int, default=32, help="texts moderated at once (default 32)")
        parser.add_argument("--show", type=int, default=10, help="false holds printed (all are in --out)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            items = evaluation.read_labelled(options["file"], limit=options["limit"])
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
        report = evaluation.evaluate(items, outcomes, thresholds=cfg.toxicity_thresholds)
        info = wiring.get_scorer().info
        report["meta"] = {
            "file": str(options["file"]),
            "texts": len(items),
            "toxicity_model": info.as_dict(),
            "on_fail": cfg.on_fail,
            "chunk_max_chars": cfg.chunk_max_chars,
            "context_chars": cfg.context_chars,
            "token_max_chars": evaluation.TOKEN_MAX_CHARS,
        }
        model = f"{info.name} {info.version}" + (" (FALLBACK)" if info.fallback else "")
        self.stdout.write(evaluation.format_report(report, model=model, show=options["show"]))
        if options["out"]:
            options["out"].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            self.stdout.write(f"report written to {options['out']}")
