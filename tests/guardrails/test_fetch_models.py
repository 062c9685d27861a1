"""manage.py fetch_models against a local HTTP server that plays both the checkpoint host and
the Hugging Face hub: a tiny Detoxify checkpoint and its config/tokenizer files."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from guardrails import fetch
from guardrails.checks.classifiers import ToxicityInput, load_classifier
from tests.guardrails import tiny_detoxify
from tests.guardrails.test_hf_classifier import build_tiny_model

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeHost:
    """``/files/<name>`` serves plain files; ``/api/models/<repo>/revision/<rev>`` and
    ``/api/models/<repo>/tree/<rev>`` and ``/<repo>/resolve/<rev>/<file>`` answer like the Hugging
    Face hub."""

    files: dict[str, bytes] = field(default_factory=dict)
    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(path)
        path = path.split("?", 1)[0]
        if path.startswith("/files/") and path[7:] in self.files:
            return 200, {}, self.files[path[7:]]
        if path.startswith("/api/models/") and "/tree/" in path:
            repo = path[len("/api/models/") :].split("/tree/")[0]
            if repo in self.repos:
                tree = [
                    {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                    for name, data in sorted(self.repos[repo].items())
                ]
                return 200, {"Content-Type": "application/json"}, json.dumps(tree).encode()
        if path.startswith("/api/models/"):
            repo = path[len("/api/models/") :].split("/revision/")[0]
            if repo in self.repos:
                siblings = [{"rfilename": name} for name in sorted(self.repos[repo])]
                body = json.dumps({"id": repo, "modelId": repo, "sha": COMMIT, "siblings": siblings}).encode()
                return 200, {"Content-Type": "application/json"}, body
        for repo, files in self.repos.items():
            prefix = f"/{repo}/resolve/"
            if path.startswith(prefix):
                name = path[len(prefix) :].split("/", 1)[1]
                if name in files:
                    etag = hashlib.sha256(files[name]).hexdigest()
                    return 200, {"X-Repo-Commit": COMMIT, "ETag": f'"{etag}"'}, files[name]
        return 404, {"X-Error-Code": "EntryNotFound"}, b"not found"


@pytest.fixture
def host() -> Iterator[FakeHost]:
    fake = FakeHost()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, with_body: bool) -> None:
            status, headers, body = fake.answer(self.path)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._reply(True)

        def do_HEAD(self) -> None:
            self._reply(False)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[str, bytes]]:
    """A tiny Detoxify checkpoint (bytes) and its base model's config/tokenizer files."""
    folder = tmp_path_factory.mktemp("tiny")
    checkpoint, config_dir = tiny_detoxify.write(folder)
    files = {path.name: path.read_bytes() for path in config_dir.iterdir() if path.is_file()}
    return checkpoint.read_bytes(), files


def _serve_checkpoint(host: FakeHost, tiny: tuple[bytes, dict[str, bytes]], name: str | None = None) -> str:
    data, config_files = tiny
    name = name or f"toxic_tiny-{hashlib.sha256(data).hexdigest()[:8]}.ckpt"
    host.files[name] = data
    host.repos["roberta-base"] = {**config_files, "pytorch_model.bin": b"weights we must not download"}
    return name


def test_fetch_models_writes_a_folder_that_loads_offline(
    host: FakeHost, tiny: tuple[bytes, dict[str, bytes]], tmp_path: Path
) -> None:
    name = _serve_checkpoint(host, tiny)
    out = tmp_path / "models"
    stdout = StringIO()
    call_command(
        "fetch_models", "--url", f"{host.url}/files/{name}", "--hf-endpoint", host.url, "--out", str(out), stdout=stdout
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["checkpoint"] == name and manifest["base_model"] == "roberta-base"
    assert manifest["base_model_commit"] == COMMIT
    assert manifest["files"][name]["sha256"] == hashlib.sha256(tiny[0]).hexdigest()
    assert {f"hf-config/{n}" for n in tiny[1]} | {name} == set(manifest["files"])  # all config, tokenizer
    assert not (out / "hf-config" / "pytorch_model.bin").exists()  # config and tokenizer only
    assert not any(p.name.endswith(".part") for p in out.rglob("*"))
    printed = stdout.getvalue()
    assert f"TOXICITY_CHECKPOINT={out / name}" in printed and f"TOXICITY_CONFIG_DIR={out / 'hf-config'}" in printed
    assert "loaded offline: detoxify:" in printed

    # The app loads it exactly as configured, with nothing but the folder.
    classifier = load_classifier(
        model_type="unbiased", checkpoint=str(out / name), config_dir=str(out / "hf-config"), fallback="none"
    )
    assert classifier.info.fallback is False
    call_command("fetch_models", "--verify", str(out), stdout=StringIO())


def test_a_mirror_serving_another_file_fails_the_checksum(
    host: FakeHost, tiny: tuple[bytes, dict[str, bytes]], tmp_path: Path
) -> None:
    # --base-url keeps Detoxify's own file name, whose hash prefix the tiny file cannot match.
    real_name = fetch.checkpoint_url("unbiased").rsplit("/", 1)[1]
    _serve_checkpoint(host, tiny, name=real_name)
    out = tmp_path / "models"
    with pytest.raises(CommandError, match=rf"checksum mismatch for {real_name}.*sha256 starting"):
        call_command(
            "fetch_models",
            "--model",
            "unbiased",
            "--base-url",
            f"{host.url}/files",
            "--out",
            str(out),
            stdout=StringIO(),
        )
    assert host.requests == [f"/files/{real_name}"]  # nothing else was fetched
    assert not (out / real_name).exists()  # the bad file is not left for anyone to load


def test_a_full_sha256_is_checked_too(host: FakeHost, tiny: tuple[bytes, dict[str, bytes]], tmp_path: Path) -> None:
    name = _serve_checkpoint(host, tiny)
    with pytest.raises(CommandError, match="expected sha256 " + "0" * 64):
        call_command(
            "fetch_models",
            "--url",
            f"{host.url}/files/{name}",
            "--sha256",
            "0" * 64,
            "--out",
            str(tmp_path),
            stdout=StringIO(),
        )


def test_an_unreachable_host_is_named(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"could not download http://127\.0\.0\.1:9/"):
        call_command("fetch_models", "--base-url", "http://127.0.0.1:9/", "--out", str(tmp_path), stdout=StringIO())


def test_verify_names_a_changed_file(host: FakeHost, tiny: tuple[bytes, dict[str, bytes]], tmp_path: Path) -> None:
    name = _serve_checkpoint(host, tiny)
    out = tmp_path / "models"
    call_command(
        "fetch_models",
        "--url",
        f"{host.url}/files/{name}",
        "--hf-endpoint",
        host.url,
        "--out",
        str(out),
        "--no-load-check",
        stdout=StringIO(),
    )
    (out / "hf-config" / "config.json").write_text("{}")
    (out / "extra.txt").write_text("?")
    with pytest.raises(CommandError, match=r"hf-config/config.json: sha256 [0-9a-f]+ but(.|\n)*extra.txt: not in"):
        call_command("fetch_models", "--verify", str(out), stdout=StringIO())


def test_fetch_a_hugging_face_text_classification_model(host: FakeHost, tmp_path: Path) -> None:
    source = build_tiny_model(tmp_path / "source", labels=["neutral", "toxic"])
    host.repos["acme/tiny-toxic"] = {p.name: p.read_bytes() for p in source.iterdir() if p.is_file()}
    out = tmp_path / "fetched"
    stdout = StringIO()
    call_command(
        "fetch_models", "--hf-model", "acme/tiny-toxic", "--hf-endpoint", host.url, "--out", str(out), stdout=stdout
    )
    assert f"TOXICITY_MODEL=hf:{out}" in stdout.getvalue()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(manifest["files"])
    classifier = load_classifier(model_type=f"hf:{out}", fallback="none")
    assert classifier.info.fallback is False
    assert set(classifier.predict([ToxicityInput("hi")])[0]) == {"neutral", "toxicity"}
