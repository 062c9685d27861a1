"""Convert the public development halves (``../shared/eval``) into the evaluation's shape.

    python eval/public/convert.py [SOURCE_DIR]   # default: ../shared/eval next to the repository

Writes gzipped JSON lines next to this script, one text per line with ``id``, ``text``,
``label`` (``unsafe``/``safe``) and ``category`` (see ``guardrails/evaluation.py``). Sources,
licences and what each label means: README.md here. Deterministic: the same input gives
byte-identical files (gzip without a timestamp).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent.parent.parent / "shared" / "eval"

OPENAI_CATEGORIES = {
    "S": "sexual",
    "H": "hate",
    "V": "violence",
    "HR": "harassment",
    "SH": "self-harm",
    "S3": "sexual/minors",
    "H2": "hate/threatening",
    "V2": "violence/graphic",
}
# SGD dialogue acts that put a business's real contact details into a reply.
SGD_CONTACT_SLOTS = {"phone_number", "address", "street_address"}


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")


def hatecheck(source: Path) -> Iterator[dict[str, Any]]:
    for row in csv.DictReader(io.StringIO(_read_text(source / "hatecheck-dev.csv"))):
        yield {
            "id": f"hatecheck-{row['case_id']}",
            "text": row["test_case"].strip(),
            "label": "unsafe" if row["label_gold"] == "hateful" else "safe",
            "category": [row["functionality"]],
        }


def openai_moderation(source: Path) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(_read_text(source / "openai-moderation-dev.jsonl").splitlines(), start=1):
        row = json.loads(line)
        positive = [name for key, name in OPENAI_CATEGORIES.items() if row.get(key) == 1]
        yield {
            "id": f"openai-{n}",
            "text": row["prompt"],
            "label": "unsafe" if positive else "safe",
            "category": positive,
        }


def cucom_agent_replies(source: Path) -> Iterator[dict[str, Any]]:
    for line in _read_text(source / "cucom-ecommerce-dev.jsonl.gz").splitlines():
        conversation = json.loads(line)
        for n, turn in enumerate(conversation["turns"]):
            if turn["role"].lower() == "agent" and turn["content"].strip():
                # Benign by construction; some grant refunds, which an assistant that cannot
                # act should still hold: read false holds by reason, not as one number.
                yield {
                    "id": f"{conversation['id']}-{n}",
                    "text": turn["content"],
                    "label": "safe",
                    "category": ["agent"],
                }


def sgd_system_replies(source: Path) -> Iterator[dict[str, Any]]:
    for dialogue in json.loads(_read_text(source / "sgd-dialogues-dev.json.gz")):
        for n, turn in enumerate(dialogue["turns"]):
            if turn["speaker"] != "SYSTEM":
                continue
            slots = {a["slot"] for f in turn["frames"] for a in f["actions"] if a["act"] == "INFORM"}
            # Real business contact details are held by design under the default allow-list.
            kind = "business-contact" if slots & SGD_CONTACT_SLOTS else "no-contact"
            yield {
                "id": f"sgd-{dialogue['dialogue_id']}-{n}",
                "text": turn["utterance"],
                "label": "safe",
                "category": [kind],
            }


def write(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    lines = [json.dumps(row, ensure_ascii=False) + "\n" for row in rows]
    path.write_bytes(gzip.compress("".join(lines).encode("utf-8"), compresslevel=9, mtime=0))
    return len(lines)


def main(argv: list[str]) -> None:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    outputs = {
        "hatecheck-dev.jsonl.gz": hatecheck,
        "openai-moderation-dev.jsonl.gz": openai_moderation,
        "cucom-agent-replies-dev.jsonl.gz": cucom_agent_replies,
        "sgd-system-replies-dev.jsonl.gz": sgd_system_replies,
    }
    for name, convert in outputs.items():
        count = write(HERE / name, convert(source))
        print(f"{name}: {count} texts")


if __name__ == "__main__":
    main(sys.argv)
