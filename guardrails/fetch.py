"""Download toxicity models into a folder an air-gapped host can copy. No Django inside.

``manage.py fetch_models`` is the adapter. Two kinds of folder, each with a ``manifest.json``
that records every file's sha256 and size (``verify`` re-checks them on the target host):

- Detoxify (:func:`fetch_detoxify`): the checkpoint from the URL Detoxify itself uses for the
  model (or a mirror: ``base_url`` replaces everything before the file name), verified against
  the sha256 prefix in its file name (torch.hub's ``name-<hex>.ckpt`` convention) and, if
  given, a full sha256; then the base model's config and tokenizer files (no weights) from the
  Hugging Face hub into ``hf-config/``. Point ``TOXICITY_CHECKPOINT`` at the checkpoint and
  ``TOXICITY_CONFIG_DIR`` at ``hf-config/``.
- A Hugging Face text-classification model (:func:`fetch_hf_model`): config, tokenizer and
  weights, for ``TOXICITY_MODEL=hf:<folder>``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardrails.checks import classifiers

MANIFEST = "manifest.json"
CONFIG_DIR = "hf-config"
# The base model's configuration and tokenizer, never its weights (the checkpoint has them).
CONFIG_PATTERNS = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)
MODEL_PATTERNS = (*CONFIG_PATTERNS, "model.safetensors")
_HASH_PREFIX = re.compile(r"-([a-f0-9]{6,64})\.")  # torch.hub.HASH_REGEX, at least 6 digits
_TIMEOUT_S = 60.0


class FetchError(RuntimeError):
    """A download or a checksum failed; the message says which file and what to do."""


@dataclass(frozen=True, slots=True)
class Fetched:
    folder: Path
    manifest: dict[str, Any]

    @property
    def settings(self) -> dict[str, str]:
        """The environment variables that make the app use this folder."""
        return dict(self.manifest["settings"])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_url(model: str, *, base_url: str = "") -> str:
    """The URL Detoxify downloads ``model`` from, or the same file name under ``base_url``."""
    from detoxify import detoxify as dx

    if model not in dx.MODEL_URLS:
        raise FetchError(f"no Detoxify model {model!r}; choose one of: {', '.join(dx.MODEL_URLS)}")
    url: str = dx.MODEL_URLS[model]
    if base_url:
        url = f"{base_url.rstrip('/')}/{url.rsplit('/', 1)[1]}"
    return url


def download(url: str, dest: Path, *, timeout: float = _TIMEOUT_S) -> str:
    """Stream ``url`` into ``dest`` (via a ``.part`` file); return its sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as out:
            while block := response.read(1 << 20):
                digest.update(block)
                out.write(block)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(f"could not download {url}: {exc}") from exc
    partial.replace(dest)
    return digest.hexdigest()


def _check_sha(path: Path, actual: str, *, prefix: str | None, expected: str) -> None:
    problems = []
    if prefix and not actual.startswith(prefix):
        problems.append(f"its name promises a sha256 starting {prefix}")
    if expected and actual != expected.lower():
        problems.append(f"expected sha256 {expected.lower()}")
    if problems:
        path.unlink(missing_ok=True)
        raise FetchError(
            f"checksum mismatch for {path.name}: got sha256 {actual}, but {' and '.join(problems)}. "
            "The file was deleted. The download was corrupted or the mirror serves another file: "
            "try again, or check the mirror (--base-url)."
        )


def _snapshot(repo_id: str, dest: Path, *, patterns: Iterable[str], revision: str, endpoint: str) -> str:
    """The repository's files matching ``patterns`` into ``dest``; returns the commit."""
    from huggingface_hub import HfApi, snapshot_download

    try:
        info = HfApi(endpoint=endpoint or None).model_info(repo_id, revision=revision or None)
        commit = str(info.sha)
        snapshot_download(
            repo_id,
            revision=commit,
            local_dir=str(dest),
            allow_patterns=list(patterns),
            endpoint=endpoint or None,
        )
    except Exception as exc:
        raise FetchError(f"could not download {repo_id} from the Hugging Face hub: {exc}") from exc
    shutil.rmtree(dest / ".cache", ignore_errors=True)  # hub bookkeeping; the app does not need it
    if not (dest / "config.json").is_file():
        raise FetchError(f"{repo_id} has no config.json at {commit}")
    return commit


def _files(folder: Path) -> dict[str, dict[str, Any]]:
    return {
        str(path.relative_to(folder)): {"sha256": sha256_of(path), "size": path.stat().st_size}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    manifest["files"] = _files(folder)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def fetch_detoxify(
    model: str,
    out: Path,
    *,
    url: str = "",
    base_url: str = "",
    sha256: str = "",
    hf_endpoint: str = "",
    hf_revision: str = "",
) -> Fetched:
    """Detoxify's checkpoint plus its base model's config/tokenizer into ``out`` (see module)."""
    import torch

    url = url or checkpoint_url(model, base_url=base_url)
    name = url.rsplit("/", 1)[1]
    match = _HASH_PREFIX.search(name)
    prefix = match.group(1) if match else None
    if prefix is None and not sha256:
        raise FetchError(f"{name} carries no hash in its name (name-<sha256 prefix>.ckpt): give --sha256")
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / name
    _check_sha(checkpoint, download(url, checkpoint), prefix=prefix, expected=sha256)
    # Unpickled only after its checksum matched.
    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    try:
        base_model = str(loaded["config"]["arch"]["args"]["model_type"])
    except (KeyError, TypeError) as exc:
        raise FetchError(f"{name} is not a Detoxify checkpoint (no config.arch.args.model_type)") from exc
    config_dir = out / CONFIG_DIR
    commit = _snapshot(base_model, config_dir, patterns=CONFIG_PATTERNS, revision=hf_revision, endpoint=hf_endpoint)
    manifest = _write_manifest(
        out,
        {
            "kind": "detoxify",
            "model": model,
            "source": url,
            "checkpoint": name,
            "base_model": base_model,
            "base_model_commit": commit,
            "settings": {"TOXICITY_CHECKPOINT": str(checkpoint), "TOXICITY_CONFIG_DIR": str(config_dir)},
        },
    )
    return Fetched(out, manifest)


def fetch_hf_model(repo_id: str, out: Path, *, hf_endpoint: str = "", hf_revision: str = "") -> Fetched:
    """A Hugging Face text-classification model (config, tokenizer, safetensors weights)."""
    commit = _snapshot(repo_id, out, patterns=MODEL_PATTERNS, revision=hf_revision, endpoint=hf_endpoint)
    if not (out / "model.safetensors").is_file():
        raise FetchError(f"{repo_id} has no model.safetensors at {commit}")
    manifest = _write_manifest(
        out,
        {"kind": "hf", "model": repo_id, "commit": commit, "settings": {"TOXICITY_MODEL": f"hf:{out}"}},
    )
    return Fetched(out, manifest)


def verify(folder: Path) -> list[str]:
    """Problems with a fetched folder (missing, changed or unlisted files); empty when intact."""
    path = folder / MANIFEST
    if not path.is_file():
        return [f"{path} is missing: not a folder written by fetch_models"]
    recorded: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["files"]
    actual = _files(folder)
    problems = [f"{name}: missing" for name in sorted(recorded.keys() - actual.keys())]
    problems += [
        f"{name}: sha256 {actual[name]['sha256']} but the manifest records {entry['sha256']}"
        for name, entry in sorted(recorded.items())
        if name in actual and actual[name]["sha256"] != entry["sha256"]
    ]
    problems += [f"{name}: not in the manifest" for name in sorted(actual.keys() - recorded.keys())]
    return problems


def load_check(fetched: Fetched) -> str:
    """Load the fetched model offline, as the app will, and score one text; its name."""
    settings = fetched.settings
    classifier: classifiers.ToxicityClassifier
    if "TOXICITY_CHECKPOINT" in settings:
        classifier = classifiers.detoxify_from_checkpoint(
            settings["TOXICITY_CHECKPOINT"], config_dir=settings["TOXICITY_CONFIG_DIR"]
        )
    else:
        classifier = classifiers.hf_from_folder(fetched.folder)
    classifier.predict([classifiers.ToxicityInput("Thanks, your order is on its way.")])
    return f"{classifier.info.name} {classifier.info.version}"
