"""assistants-api against the fake managed platform (Azure style, rate limited, failing now and
then), and a crashed export resumed to the same bundle."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.bundle import FLAG_PARSED_TEXT_ONLY, PARTS, open_bundle, verify_bundle
from homeport.sources.base import make_source, run_export
from homeport.sources.errors import SourceError
from homeport.testing.fake_assistants_platform import FakeAssistantsPlatform, PlatformData
from tests.sources.conftest import API_VERSION, serve_platform

KEY = "fake-platform-key"
COMPARED = [p for p in PARTS if p != "memories"]


def _by_id(bundle: Path, part: str) -> dict[str, Any]:
    with open_bundle(bundle) as reader:
        return {f"{r.get('vector_store_id', '')}/{r['id']}": r for r in reader.records(part)}


def _same_objects(exported: Path, original: Path) -> None:
    """Every platform object arrives with the same raw JSON; messages in the same order."""
    for part in COMPARED:
        got, want = _by_id(exported, part), _by_id(original, part)
        assert got.keys() == want.keys(), part
        for key, record in got.items():
            assert record["raw"] == want[key]["raw"], (part, key)
    assert _orders(exported) == _orders(original)


def _orders(bundle: Path) -> dict[str, list[str]]:
    orders: dict[str, list[str]] = {}
    with open_bundle(bundle) as reader:
        for record in reader.records("items"):
            orders.setdefault(record["conversation_id"], []).append(record["id"])
    return orders


def _azure_options(url: str, sample_dump: Path, **more: Any) -> dict[str, Any]:
    return {
        "base_url": url,
        "api_key": KEY,
        "api_version": API_VERSION,
        "thread_ids_file": sample_dump / "thread_ids.txt",
        "rate": None,
        **more,
    }


def test_exports_everything_through_429s_and_5xxs(
    azure_platform: tuple[str, FakeAssistantsPlatform],
    sample_dump: Path,
    sample_bundle: Path,
    tmp_path: Path,
) -> None:
    url, platform = azure_platform
    source = make_source("assistants-api", _azure_options(url, sample_dump))
    manifest = run_export(source, tmp_path / "b")
    assert platform.stats.throttled > 0 and platform.stats.failed > 0
    assert manifest.source["options"]["base_url"] == url
    assert "api_key" not in manifest.source["options"]
    _same_objects(tmp_path / "b", sample_bundle)
    with open_bundle(tmp_path / "b") as reader:
        assert verify_bundle(reader).ok
        files = {r["filename"]: r for r in reader.records("files")}
        manual = next(r for r in files.values() if r["purpose"] == "assistants")
        # The platform refuses the bytes of 'assistants' files: the parsed text is kept.
        assert manual["sha256"] is None and FLAG_PARSED_TEXT_ONLY in manual["flags"]
        assert "Lumen" in reader.read_blob(manual["text_sha256"]).decode()


def test_threads_need_ids_where_the_platform_cannot_list_them(
    azure_platform: tuple[str, FakeAssistantsPlatform], sample_dump: Path, tmp_path: Path
) -> None:
    url, _ = azure_platform
    source = make_source("assistants-api", _azure_options(url, sample_dump, thread_ids_file=None))
    with pytest.raises(SourceError, match="cannot list threads: give thread_ids_file"):
        run_export(source, tmp_path / "b")


@pytest.fixture
def listing_platform(platform_data: PlatformData) -> Iterator[tuple[str, FakeAssistantsPlatform]]:
    """OpenAI style (Bearer key, /v1), with thread listing as Azure Foundry offers it."""
    yield from serve_platform(platform_data, list_threads=True)


def test_threads_are_listed_where_the_platform_can(
    listing_platform: tuple[str, FakeAssistantsPlatform], sample_bundle: Path, tmp_path: Path
) -> None:
    url, _ = listing_platform
    source = make_source("assistants-api", {"base_url": url, "api_key": KEY, "rate": None})
    run_export(source, tmp_path / "b")
    _same_objects(tmp_path / "b", sample_bundle)


def test_wrong_key_is_a_clear_error(
    listing_platform: tuple[str, FakeAssistantsPlatform], tmp_path: Path
) -> None:
    url, _ = listing_platform
    source = make_source("assistants-api", {"base_url": url, "api_key": "wrong", "rate": None})
    with pytest.raises(SourceError, match="HTTP 401: Incorrect API key"):
        run_export(source, tmp_path / "b")


@pytest.mark.slow
def test_export_killed_at_random_points_resumes_to_the_same_bundle(
    azure_platform: tuple[str, FakeAssistantsPlatform],
    sample_dump: Path,
    sample_bundle: Path,
    tmp_path: Path,
) -> None:
    url, _ = azure_platform
    out = tmp_path / "b"
    command = [
        str(Path(sys.executable).parent / "homeport"),
        "export",
        "assistants-api",
        str(out),
        "--set",
        f"base_url={url}",
        "--set",
        f"api_key={KEY}",
        "--set",
        f"api_version={API_VERSION}",
        "--set",
        f"thread_ids_file={sample_dump / 'thread_ids.txt'}",
        "--set",
        "concurrency=2",
        "--rate",
        "250",
        "--json",
    ]
    rng = random.Random(11)
    for attempt in range(3):
        process = subprocess.Popen(
            command + (["--resume"] if attempt else []),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            process.wait(timeout=rng.uniform(1.5, 4.0))
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    finished = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    with open_bundle(out) as reader:
        assert verify_bundle(reader).ok
    _same_objects(out, sample_bundle)
