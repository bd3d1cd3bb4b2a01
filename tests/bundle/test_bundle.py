"""The bundle: streams in and out, resumes after a crash, encrypts, verifies."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import homeport.bundle as bundle_api
from homeport.bundle import (
    BundleError,
    BundleWriter,
    new_key,
    open_bundle,
    pack,
    verify_bundle,
)

SOURCE = {"kind": "test", "options": {}}
SECRET = "confidential-marker-Ω"


def _messages(n: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {
            "id": f"msg_{i:06d}",
            "conversation_id": "thread_1",
            "content": [{"type": "text", "text": {"value": f"{SECRET} {i} 🚀 " + "x" * (i % 7)}}],
            "raw": {"id": f"msg_{i:06d}", "object": "thread.message"},
        }
        for i in range(start, start + n)
    ]


def test_public_api_is_pinned() -> None:
    assert sorted(bundle_api.__all__) == sorted(
        [
            "FLAG_AGENT_MISSING",
            "FLAG_BYTES_UNAVAILABLE",
            "FLAG_PARSED_TEXT_ONLY",
            "PARTS",
            "SCHEMA_VERSION",
            "BundleError",
            "BundleReader",
            "BundleWriter",
            "Manifest",
            "PartInfo",
            "Record",
            "VerifyReport",
            "load_key",
            "new_key",
            "open_bundle",
            "pack",
            "parse_key",
            "verify_bundle",
        ]
    )


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_records_and_blobs_read_back_exactly(tmp_path: Path, encrypted: bool) -> None:
    key = new_key() if encrypted else None
    records = _messages(3000)
    big = bytes(range(256)) * 10_000  # several encryption segments
    with BundleWriter(tmp_path / "b", source=SOURCE, key=key) as writer:
        for record in records:
            writer.write("items", record)
        sha, size = writer.put_blob(big[i : i + 70_000] for i in range(0, len(big), 70_000))
        writer.write("files", {"id": "file-1", "sha256": sha, "bytes": size})
    with open_bundle(tmp_path / "b", key=key) as reader:
        assert list(reader.records("items")) == records
        assert reader.read_blob(sha) == big
        assert reader.counts()["items"] == 3000
        assert reader.manifest.complete
        assert verify_bundle(reader).ok


def test_encrypted_bundle_holds_no_plaintext_on_disk(tmp_path: Path) -> None:
    key = new_key()
    with BundleWriter(tmp_path / "b", source=SOURCE, key=key) as writer:
        for record in _messages(50):
            writer.write("items", record)
        writer.put_blob([SECRET.encode() * 10])
    for path in (tmp_path / "b").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
            assert b"msg_000001" not in path.read_bytes() or path.name == "manifest.json"


def test_encrypted_bundle_needs_the_right_key(tmp_path: Path) -> None:
    with BundleWriter(tmp_path / "b", source=SOURCE, key=new_key()) as writer:
        writer.write("items", _messages(1)[0])
    with pytest.raises(BundleError, match="wrong key"):
        open_bundle(tmp_path / "b", key=new_key())
    with open_bundle(tmp_path / "b") as reader, pytest.raises(BundleError, match="encrypted"):
        list(reader.records("items"))


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_resume_cuts_back_to_the_last_checkpoint(tmp_path: Path, encrypted: bool) -> None:
    key = new_key() if encrypted else None
    writer = BundleWriter(tmp_path / "b", source=SOURCE, key=key)
    for record in _messages(100):
        writer.write("items", record)
    writer.checkpoint({"done": 100})
    for record in _messages(50, start=100):  # written, never committed: the crash loses them
        writer.write("items", record)
        writer.write("runs", {"id": "run_lost"})
    writer.close()
    with pytest.raises(BundleError, match="--resume"):
        BundleWriter(tmp_path / "b", source=SOURCE, key=key)
    resumed = BundleWriter(tmp_path / "b", source=SOURCE, key=key, resume=True)
    assert resumed.cursors == {"done": 100}
    assert resumed.count("items") == 100
    for record in _messages(50, start=100):
        resumed.write("items", record)
    resumed.finish()
    with open_bundle(tmp_path / "b", key=key) as reader:
        assert [r["id"] for r in reader.records("items")] == [f"msg_{i:06d}" for i in range(150)]
        assert list(reader.records("runs")) == []
        assert verify_bundle(reader).ok


def test_reader_sees_only_committed_records_of_an_unfinished_export(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "b", source=SOURCE)
    for record in _messages(10):
        writer.write("items", record)
    writer.checkpoint({})
    writer.write("items", _messages(1, start=10)[0])
    writer.checkpoint({})  # committed, but the export never finishes
    writer.close()
    with open_bundle(tmp_path / "b") as reader:
        assert reader.count("items") == 11
        report = verify_bundle(reader)
    assert not report.complete
    assert report.problems == ["the export did not finish: resume it with --resume"]


def test_verify_names_each_problem(tmp_path: Path) -> None:
    with BundleWriter(tmp_path / "b", source=SOURCE) as writer:
        for record in _messages(20):
            writer.write("items", record)
        sha, _ = writer.put_blob([b"file bytes"])
        writer.write("files", {"id": "file-1", "sha256": sha})
        writer.write("files", {"id": "file-2", "sha256": "0" * 64})
    items = tmp_path / "b" / "items.jsonl"
    data = bytearray(items.read_bytes())
    data[10] ^= 1
    items.write_bytes(bytes(data))
    blob = next((tmp_path / "b" / "blobs").glob("*/*"))
    blob.write_bytes(b"other bytes")
    with open_bundle(tmp_path / "b") as reader:
        problems = verify_bundle(reader).problems
    assert "items.jsonl: sha256 differs from the manifest" in problems
    assert any("hash to" in p and sha in p for p in problems)
    assert f"blob {'0' * 64} is referenced by a file record but missing" in problems


def test_archive_reads_like_the_folder(tmp_path: Path) -> None:
    key = new_key()
    with BundleWriter(tmp_path / "b", source=SOURCE, key=key) as writer:
        for record in _messages(500):
            writer.write("items", record)
        sha, _ = writer.put_blob([b"hello"])
    for name in ("b.tar", "b.tar.gz"):
        pack(tmp_path / "b", tmp_path / name)
        with open_bundle(tmp_path / name, key=key) as reader:
            assert [r["id"] for r in reader.records("items")] == [r["id"] for r in _messages(500)]
            assert reader.read_blob(sha) == b"hello"
            assert verify_bundle(reader).ok


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    with BundleWriter(tmp_path / "b", source=SOURCE):
        pass
    manifest = tmp_path / "b" / "manifest.json"
    data = orjson.loads(manifest.read_bytes())
    data["schema_version"] = 99
    manifest.write_bytes(orjson.dumps(data))
    with pytest.raises(BundleError, match="upgrade homeport"):
        open_bundle(tmp_path / "b")


def test_unknown_part_is_refused(tmp_path: Path) -> None:
    with (
        BundleWriter(tmp_path / "b", source=SOURCE) as writer,
        pytest.raises(BundleError, match="unknown bundle part"),
    ):
        writer.write("threads", {"id": "thread_1"})
