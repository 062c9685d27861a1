"""``manage.py fetch_models``: download toxicity models into a folder an air-gapped host can copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from guardrails import fetch


class Command(BaseCommand):
    help = (
        "Download the Detoxify checkpoint for TOXICITY_MODEL (or --model) with its base model's config and "
        "tokenizer, or (--hf-model) a Hugging Face text-classification model; verify checksums; write a "
        "manifest.json; print the settings that use the folder. --verify DIR re-checks a copied folder."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="Detoxify model (default: TOXICITY_MODEL)")
        parser.add_argument("--hf-model", help="instead: a hub text-classification model id, for TOXICITY_MODEL=hf:")
        parser.add_argument("--out", type=Path, help="folder to write (default: var/models/<model>)")
        parser.add_argument("--url", default="", help="the checkpoint's full URL (a custom Detoxify checkpoint)")
        parser.add_argument("--base-url", default="", help="a mirror serving Detoxify's checkpoint file names")
        parser.add_argument("--sha256", default="", help="the checkpoint's expected sha256 (in full)")
        parser.add_argument("--hf-endpoint", default="", help="a Hugging Face hub mirror (default: the hub)")
        parser.add_argument("--hf-revision", default="", help="branch, tag or commit on the hub (default: main)")
        parser.add_argument("--no-load-check", action="store_true", help="skip loading the model once after fetching")
        parser.add_argument("--verify", type=Path, metavar="DIR", help="only re-check a fetched folder's checksums")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verify"]:
            problems = fetch.verify(options["verify"])
            if problems:
                raise CommandError(f"{options['verify']} does not match its manifest:\n  " + "\n  ".join(problems))
            self.stdout.write(f"{options['verify']}: every file matches manifest.json")
            return
        try:
            fetched = self._fetch(options)
            loaded = "" if options["no_load_check"] else fetch.load_check(fetched)
        except fetch.FetchError as exc:
            raise CommandError(str(exc)) from exc
        files = fetched.manifest["files"]
        self.stdout.write(f"fetched {len(files)} files into {fetched.folder} (sha256 in manifest.json)")
        if loaded:
            self.stdout.write(f"loaded offline: {loaded}")
        self.stdout.write("use it with:")
        for name, value in fetched.settings.items():
            self.stdout.write(f"  {name}={value}")

    def _fetch(self, options: dict[str, Any]) -> fetch.Fetched:
        hf = {"hf_endpoint": options["hf_endpoint"], "hf_revision": options["hf_revision"]}
        if options["hf_model"]:
            out = options["out"] or settings.BASE_DIR / "var" / "models" / options["hf_model"].replace("/", "--")
            return fetch.fetch_hf_model(options["hf_model"], out, **hf)
        model = options["model"] or settings.TOXICITY_MODEL
        if model.startswith("hf:"):
            raise CommandError(f"TOXICITY_MODEL={model} is a local folder: give --model or --hf-model")
        out = options["out"] or settings.BASE_DIR / "var" / "models" / f"detoxify-{model}"
        return fetch.fetch_detoxify(
            model, out, url=options["url"], base_url=options["base_url"], sha256=options["sha256"], **hf
        )
