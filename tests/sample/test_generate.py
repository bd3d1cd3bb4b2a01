"""The sample deployment: faithful OpenAI API objects, deterministic, with the edge cases."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from homeport.sample import generate
from tests.support.spec import validate

SCHEMAS = {
    "assistants.json": "AssistantObject",
    "files.json": "OpenAIFile",
    "vector_stores.json": "VectorStoreObject",
    "threads.jsonl": "ThreadObject",
    "messages.jsonl": "MessageObject",
    "runs.jsonl": "RunObject",
    "run_steps.jsonl": "RunStepObject",
    "vector_store_files.jsonl": "VectorStoreFileObject",
}


def _objects(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".json":
        page = json.loads(path.read_text())
        assert page["object"] == "list"
        return list(page["data"])
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, threads=60)
    return out


def test_every_object_matches_the_openai_spec(sample: Path) -> None:
    for name, schema in SCHEMAS.items():
        objects = _objects(sample / name)
        assert objects, name
        for obj in objects:
            validate(schema, obj)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    def digest(folder: Path) -> str:
        h = hashlib.sha256()
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                h.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
        return h.hexdigest()

    generate(tmp_path / "a", threads=20, seed=3)
    generate(tmp_path / "b", threads=20, seed=3)
    generate(tmp_path / "c", threads=20, seed=4)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_three_agents_and_the_edge_cases(sample: Path) -> None:
    assistants = _objects(sample / "assistants.json")
    assert {a["name"] for a in assistants} == {"Lumen Support", "Order Status", "Ticket Triage"}
    kinds = {t["type"] for a in assistants for t in a["tools"]}
    assert kinds == {"file_search", "function"}
    messages = _objects(sample / "messages.jsonl")
    texts = [m["content"][0]["text"]["value"] for m in messages]
    assert max(len(t) for t in texts) > 50_000
    assert any("温控器" in t for t in texts)
    assert any(m["content"][0]["text"]["annotations"] for m in messages)
    runs = _objects(sample / "runs.jsonl")
    assert {"completed", "failed", "expired"} <= {r["status"] for r in runs}
    known = {a["id"] for a in assistants}
    assert any(r["assistant_id"] not in known for r in runs), "a thread whose assistant is gone"
    files = _objects(sample / "files.json")
    contents = {p.name for p in (sample / "file-contents").iterdir()}
    assert any(f["id"] not in contents for f in files), "a file whose bytes are gone"
    thread_ids = (sample / "thread_ids.txt").read_text().split()
    assert len(thread_ids) == len(_objects(sample / "threads.jsonl"))
    steps = _objects(sample / "run_steps.jsonl")
    calls = [c for s in steps if s["type"] == "tool_calls" for c in s["step_details"]["tool_calls"]]
    assert {"function", "file_search"} == {c["type"] for c in calls}
