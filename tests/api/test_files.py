"""The Files API through the official SDK against a live homeport, on SQLite and PostgreSQL,
with every JSON response checked against OpenAI's spec; blobs on disk and in S3 (moto)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import openai
import pytest

from tests.api.conftest import SpecChecked
from tests.conftest import HomeportFactory


def _upload(client: openai.OpenAI, name: str, data: bytes, purpose: str = "assistants") -> str:
    return client.files.create(file=(name, io.BytesIO(data)), purpose=purpose).id  # type: ignore[arg-type]


def test_upload_retrieve_download_delete(client: openai.OpenAI, tmp_path: Path) -> None:
    data = b"homeport keeps files on your own disk\n" * 100
    created = client.files.create(file=("notes.txt", io.BytesIO(data)), purpose="assistants")
    assert (created.object, created.filename, created.bytes) == ("file", "notes.txt", len(data))
    assert created.id.startswith("file-") and created.status == "processed"
    assert client.files.retrieve(created.id) == created
    assert client.files.content(created.id).read() == data
    deleted = client.files.delete(created.id)
    assert (deleted.id, deleted.deleted) == (created.id, True)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    blobs = [p for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file()]
    assert blobs == [], "the last file with that content took its blob with it"


def test_equal_content_is_stored_once_and_survives_one_delete(
    client: openai.OpenAI, tmp_path: Path
) -> None:
    first = _upload(client, "a.txt", b"same bytes")
    second = _upload(client, "b.txt", b"same bytes")
    digest = hashlib.sha256(b"same bytes").hexdigest()
    blob = tmp_path / "data" / "blobs" / digest[:2] / digest[2:]
    assert blob.read_bytes() == b"same bytes"
    client.files.delete(first)
    assert client.files.content(second).read() == b"same bytes"


def test_list_filters_by_purpose_and_pages(client: openai.OpenAI) -> None:
    ids = [_upload(client, f"f{i}.txt", f"file {i}".encode()) for i in range(3)]
    batch = _upload(client, "requests.jsonl", b"{}\n", purpose="batch")
    page = client.files.list(purpose="assistants", limit=2, order="asc")
    assert [f.id for f in page.data] == ids[:2] and page.has_more
    assert [f.id for f in page.iter_pages().__next__().data] == ids[:2]
    assert [f.id for f in client.files.list(purpose="assistants", order="asc")] == ids
    listed_batch = client.files.retrieve(batch)
    assert listed_batch.purpose == "batch" and listed_batch.expires_at is not None


def test_bad_uploads_are_clear_400s(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as wrong:
        _upload(client, "a.txt", b"x", purpose="fine-tuning")
    assert "'fine-tuning' is not one of" in wrong.value.message
    assert wrong.value.body["param"] == "purpose"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as missing:
        client.post("/files", body={"purpose": "assistants"}, cast_to=object)
    assert "Missing required parameter: 'file'." in missing.value.message
    with pytest.raises(openai.NotFoundError):
        client.files.content("file-missing")


def test_upload_over_the_limit_is_refused_and_leaves_nothing(
    homeport_server: HomeportFactory, spec_checked: SpecChecked, tmp_path: Path
) -> None:
    server = homeport_server(knowledge={"max_file_bytes": 8 * 1024 * 1024})
    client = spec_checked(server)
    with pytest.raises(openai.BadRequestError) as refused:
        _upload(client, "big.bin", b"\0" * (50 * 1024 * 1024))
    assert refused.value.code == "file_too_large"
    assert "8388608" in refused.value.message
    assert client.files.list().data == []
    leftovers = [p for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file()]
    assert leftovers == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_s3_blob_store(
    homeport_server: HomeportFactory,
    spec_checked: SpecChecked,
    s3_endpoint: str,
    tmp_path: Path,
) -> None:
    import boto3

    server = homeport_server(
        knowledge={"blob_store": "s3", "s3_bucket": "homeport", "s3_endpoint_url": s3_endpoint}
    )
    client = spec_checked(server)
    file_id = _upload(client, "doc.md", b"# stored in S3")
    assert client.files.content(file_id).read() == b"# stored in S3"
    keys = [
        o["Key"]
        for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket="homeport")[
            "Contents"
        ]
    ]
    assert keys == ["homeport/files/" + hashlib.sha256(b"# stored in S3").hexdigest()]
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    client.files.delete(file_id)
    assert "Contents" not in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket="homeport"
    )
