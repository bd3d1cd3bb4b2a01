"""openai-objects: a dump of spec-shaped OpenAI objects, in any layout, into a bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from homeport.bundle import FLAG_AGENT_MISSING, FLAG_BYTES_UNAVAILABLE, open_bundle, verify_bundle
from homeport.sources.base import make_source, run_export
from homeport.sources.errors import SourceError
from tests.support.spec import validate

SCHEMAS = {
    "agents": "AssistantObject",
    "files": "OpenAIFile",
    "vector_stores": "VectorStoreObject",
    "vector_store_files": "VectorStoreFileObject",
    "conversations": "ThreadObject",
    "items": "MessageObject",
    "runs": "RunObject",
    "run_steps": "RunStepObject",
}
DUMP_FILES = {
    "agents": "assistants.json",
    "files": "files.json",
    "vector_stores": "vector_stores.json",
    "vector_store_files": "vector_store_files.jsonl",
    "conversations": "threads.jsonl",
    "items": "messages.jsonl",
    "runs": "runs.jsonl",
    "run_steps": "run_steps.jsonl",
}


def _objects(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".json":
        return list(json.loads(path.read_text())["data"])
    return [json.loads(line) for line in path.read_text().splitlines()]


def _records(bundle: Path, part: str) -> list[dict[str, Any]]:
    with open_bundle(bundle) as reader:
        return list(reader.records(part))


def test_every_object_is_kept_raw_and_matches_the_spec(
    sample_dump: Path, sample_bundle: Path
) -> None:
    for part, name in DUMP_FILES.items():
        records = _records(sample_bundle, part)
        assert sorted(r["raw"]["id"] for r in records) == sorted(
            o["id"] for o in _objects(sample_dump / name)
        ), part
        by_id = {o["id"]: o for o in _objects(sample_dump / name)}
        for record in records:
            assert record["raw"] == by_id[record["raw"]["id"]]
            validate(SCHEMAS[part], record["raw"])
    with open_bundle(sample_bundle) as reader:
        assert verify_bundle(reader).ok


def test_neutral_fields_and_edge_cases(sample_dump: Path, sample_bundle: Path) -> None:
    items = _records(sample_bundle, "items")
    longest = max(items, key=lambda r: len(r["content"][0]["text"]["value"]))
    assert len(longest["content"][0]["text"]["value"]) > 100_000
    assert any(any(ord(ch) > 0xFFFF for ch in r["content"][0]["text"]["value"]) for r in items), (
        "emoji and other astral characters survive"
    )
    cited = [r for r in items if r["content"][0]["text"]["annotations"]]
    assert cited and cited[0]["content"][0]["text"]["annotations"][0]["type"] == "file_citation"
    runs = _records(sample_bundle, "runs")
    statuses = {r["status"] for r in runs}
    assert {"completed", "failed", "expired"} <= statuses
    failed = next(r for r in runs if r["status"] == "failed")
    assert failed["last_error"]["code"] == "server_error" and failed["failed_at"]
    orphans = [r for r in runs if FLAG_AGENT_MISSING in r.get("flags", [])]
    assert len(orphans) == 1
    assert orphans[0]["agent_id"] not in {a["id"] for a in _records(sample_bundle, "agents")}
    files = {r["filename"]: r for r in _records(sample_bundle, "files")}
    assert files["chart-q2.png"]["sha256"] is None
    assert FLAG_BYTES_UNAVAILABLE in files["chart-q2.png"]["flags"]
    with open_bundle(sample_bundle) as reader:
        manual = next(r for r in files.values() if r["sha256"])
        assert (
            reader.read_blob(manual["sha256"])
            == (sample_dump / "file-contents" / manual["id"]).read_bytes()
        )
    tools = _records(sample_bundle, "tools")
    assert {t["executor"]["kind"] for t in tools} == {"client", "platform"}


def test_items_come_in_conversation_order(sample_bundle: Path) -> None:
    order: dict[str, list[int]] = defaultdict(list)
    for record in _records(sample_bundle, "items"):
        order[record["conversation_id"]].append(record["created_at"])
    assert all(times == sorted(times) for times in order.values())


def _messy_dump(sample_dump: Path, out: Path) -> None:
    """The same objects as saved by a script: list pages newest first, one folder per thread,
    some objects twice, a bare JSON array, file contents with an extension."""
    out.mkdir()
    for name in ("assistants.json", "files.json", "vector_stores.json"):
        (out / name).write_text((sample_dump / name).read_text())
    (out / "assistants-again.jsonl").write_text(
        "\n".join(json.dumps(o) for o in _objects(sample_dump / "assistants.json"))
    )
    (out / "vs_files.json").write_text(
        json.dumps(_objects(sample_dump / "vector_store_files.jsonl"))
    )
    per_thread: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for name, kind in (("messages.jsonl", "messages"), ("runs.jsonl", "runs")):
        for obj in _objects(sample_dump / name):
            per_thread[obj["thread_id"]][kind].append(obj)
    steps = _objects(sample_dump / "run_steps.jsonl")
    for thread in _objects(sample_dump / "threads.jsonl"):
        folder = out / "threads" / thread["id"]
        folder.mkdir(parents=True)
        (folder / "thread.json").write_text(json.dumps(thread, ensure_ascii=False))
        for kind, objs in per_thread[thread["id"]].items():
            newest_first = list(reversed(objs))
            for n in range(0, len(newest_first), 3):
                page = newest_first[n : n + 3]
                body = {
                    "object": "list",
                    "data": page,
                    "first_id": page[0]["id"],
                    "last_id": page[-1]["id"],
                    "has_more": n + 3 < len(newest_first),
                }
                (folder / f"{kind}-{n // 3}.json").write_text(json.dumps(body, ensure_ascii=False))
    (out / "steps.jsonl").write_text("\n".join(json.dumps(s) for s in steps + steps[:5]))
    contents = out / "file-contents"
    contents.mkdir()
    for path in (sample_dump / "file-contents").iterdir():
        (contents / f"{path.name}.md").write_bytes(path.read_bytes())


def test_any_layout_gives_the_same_bundle(
    sample_dump: Path, sample_bundle: Path, tmp_path: Path
) -> None:
    _messy_dump(sample_dump, tmp_path / "messy")
    run_export(make_source("openai-objects", {"path": tmp_path / "messy"}), tmp_path / "b")
    for part in DUMP_FILES:
        tidy = _records(sample_bundle, part)
        messy = _records(tmp_path / "b", part)
        if part == "items":
            assert messy == tidy  # the same conversation order, record for record
        else:
            assert sorted(messy, key=lambda r: r["id"]) == sorted(tidy, key=lambda r: r["id"]), part


class _Crash(Exception):
    pass


def test_interrupted_export_resumes_to_the_same_bundle(
    sample_dump: Path, sample_bundle: Path, tmp_path: Path
) -> None:
    calls = 0

    def crash_on_third_report(_: dict[str, int]) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise _Crash

    source = make_source("openai-objects", {"path": sample_dump})
    with pytest.raises(_Crash):
        run_export(source, tmp_path / "b", progress=crash_on_third_report)
    with open_bundle(tmp_path / "b") as reader:
        assert not reader.manifest.complete
    run_export(make_source("openai-objects", {"path": sample_dump}), tmp_path / "b", resume=True)
    for part in DUMP_FILES:
        assert _records(tmp_path / "b", part) == _records(sample_bundle, part), part


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is not a folder of OpenAI API objects"):
        run_export(make_source("openai-objects", {"path": tmp_path / "nope"}), tmp_path / "b")


def test_bad_options_name_the_key() -> None:
    with pytest.raises(SourceError, match="openai-objects option 'path'"):
        make_source("openai-objects", {})
    with pytest.raises(SourceError, match="unknown source 'nope'"):
        make_source("nope", {})


_MEASURE = """
import resource, sys
from pathlib import Path
import homeport.sources.openai_objects
from homeport.sources.base import make_source, run_export

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
run_export(make_source("openai-objects", {"path": Path(sys.argv[1])}), Path(sys.argv[2]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def _large_list_page(path: Path, messages: int, size: int) -> None:
    """A list page of ``messages`` messages of ``size`` characters each, newest first."""
    with path.open("wb") as out:
        out.write(b'{"object": "list", "data": [')
        for n in range(messages):
            stamp = 1_740_000_000 + messages - n
            text = f"message {n} " + "x" * size
            message = {
                "id": f"msg_{n:08d}",
                "object": "thread.message",
                "created_at": stamp,
                "thread_id": "thread_big",
                "role": "user",
                "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
                "assistant_id": None,
                "run_id": None,
                "attachments": [],
                "metadata": {},
            }
            out.write((b"," if n else b"") + orjson.dumps(message))
        out.write(b'], "first_id": "msg_00000000", "has_more": false}')


def test_a_large_json_file_is_streamed(tmp_path: Path) -> None:
    """40 MB in one list page: the export's peak memory grows by far less than the file (a
    whole-file load holds the bytes and the parsed objects: more than twice the file)."""
    dump = tmp_path / "dump"
    dump.mkdir()
    big = dump / "messages.json"
    _large_list_page(big, messages=80, size=1 << 19)
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(dump), str(tmp_path / "b")],
        capture_output=True,
        text=True,
        check=True,
    )
    growth_kb = int(measured.stdout.split()[-1])
    assert growth_kb * 1024 < big.stat().st_size / 2
    items = _records(tmp_path / "b", "items")
    assert [r["id"] for r in items] == [f"msg_{n:08d}" for n in reversed(range(80))]
    assert len(items[0]["content"][0]["text"]["value"]) == len("message 79 ") + (1 << 19)


def test_invalid_json_is_named(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "messages.json").write_text('{"object": "list", "data": [{"id": "msg_1", ')
    with pytest.raises(SourceError, match=r"messages.json: not valid JSON"):
        run_export(make_source("openai-objects", {"path": dump}), tmp_path / "b")
