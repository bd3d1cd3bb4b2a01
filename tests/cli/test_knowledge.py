"""``homeport knowledge ingest`` and ``search`` on SQLite and PostgreSQL: indexing a folder,
resuming without re-indexing, failures reported per file, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Invoke, RunCommand
from tests.knowledge.corpus import DOCUMENTS


def _folder(root: Path) -> Path:
    docs = root / "docs"
    (docs / "nested").mkdir(parents=True)
    for name in ("tides.md", "penguins.md"):
        (docs / name).write_text(DOCUMENTS[name])
    (docs / "nested" / "git.md").write_text(DOCUMENTS["git.md"])
    (docs / ".hidden.md").write_text("never indexed")
    (docs / "junk.bin").write_bytes(bytes(range(256)))
    return docs


def test_ingest_is_resumable_and_search_finds(invoke: Invoke, tmp_path: Path) -> None:
    docs = _folder(tmp_path)
    first = json.loads(
        invoke("knowledge", "ingest", str(docs), "--store", "notes", "--json").stdout
    )
    status = {Path(f["path"]).name: f["status"] for f in first["files"]}
    assert status == {
        "tides.md": "completed",
        "penguins.md": "completed",
        "git.md": "completed",
        "junk.bin": "failed",
    }
    (docs / "octopus.md").write_text(DOCUMENTS["octopus.md"])
    again = json.loads(
        invoke("knowledge", "ingest", str(docs), "--store", "notes", "--json").stdout
    )
    assert again["vector_store_id"] == first["vector_store_id"]
    ids = {Path(f["path"]).name: f["file_id"] for f in again["files"]}
    assert {k: v for k, v in ids.items() if k != "octopus.md"} == {
        Path(f["path"]).name: f["file_id"] for f in first["files"]
    }, "files already in the store are not uploaded again"
    found = json.loads(
        invoke("knowledge", "search", "notes", "who keeps the egg warm", "--json").stdout
    )
    assert found[0]["filename"] == "penguins.md"
    table = invoke("knowledge", "search", first["vector_store_id"], "three hearts").stdout
    assert "octopus.md" in table


def test_errors_are_one_line(homeport_command: RunCommand, tmp_path: Path) -> None:
    missing = homeport_command("knowledge", "ingest", str(tmp_path / "nope"), "--store", "x")
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    unknown = homeport_command("knowledge", "search", "nothing", "query")
    assert unknown.returncode == 1
    assert "no vector store named or with id 'nothing'" in unknown.stderr
