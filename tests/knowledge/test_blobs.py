"""S3-compatible blob storage, against moto's S3 server (the same API calls as a bucket on AWS,
MinIO or Ceph): store, read, list, delete, and the sweep's orphan pass."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from homeport.config import Settings
from homeport.knowledge.blobs import S3Blobs, blob_store, stage
from homeport.knowledge.sweep import ORPHAN_GRACE_SECONDS, Swept, sweep
from homeport.store.models.knowledge import StoredFile
from tests.knowledge.conftest import Knowledge, knowledge_on


@pytest.fixture
def s3_knowledge(settings: Settings, s3_endpoint: str) -> Iterator[Knowledge]:
    knowledge = settings.knowledge.model_copy(
        update={"blob_store": "s3", "s3_bucket": "homeport", "s3_endpoint_url": s3_endpoint}
    )
    with knowledge_on(settings.model_copy(update={"knowledge": knowledge})) as on_s3:
        yield on_s3


def _s3(knowledge: Knowledge) -> S3Blobs:
    blobs = blob_store(knowledge.services.settings)
    assert isinstance(blobs, S3Blobs)
    return blobs


def _put(blobs: S3Blobs, data: bytes) -> str:
    staged = stage(io.BytesIO(data), folder=blobs.staging, limit=1 << 20)
    blobs.put(staged)
    assert not staged.path.exists()  # the staged copy is consumed
    return staged.sha256


def test_s3_blobs_store_read_list_and_delete(s3_knowledge: Knowledge) -> None:
    blobs = _s3(s3_knowledge)
    first = _put(blobs, b"refunds within 30 days")
    second = _put(blobs, b"ships from Rotterdam")
    assert blobs.read(first) == b"refunds within 30 days"
    listed = dict(blobs.listing())
    assert set(listed) == {first, second}
    assert all(abs(written - time.time()) < 3600 for written in listed.values())
    blobs.delete(first)
    with pytest.raises(FileNotFoundError):
        blobs.read(first)
    assert [sha for sha, _ in blobs.listing()] == [second]


def test_sweep_deletes_s3_orphans_only_after_the_grace_period(s3_knowledge: Knowledge) -> None:
    db = s3_knowledge.services.db
    blobs = _s3(s3_knowledge)
    named = s3_knowledge.upload("guide.md", b"Customers may return unworn shoes.")
    orphan = _put(blobs, b"left by a killed upload")

    assert sweep(db, blobs) == Swept(stores=0, files=0, blobs=0, orphans=0)  # still in grace
    later = int(time.time() + ORPHAN_GRACE_SECONDS + 60)
    assert sweep(db, blobs, moment=later) == Swept(stores=0, files=0, blobs=0, orphans=1)

    with pytest.raises(FileNotFoundError):
        blobs.read(orphan)
    with db.session() as session:
        sha = session.scalar(select(StoredFile.sha256).where(StoredFile.id == named))
    assert sha is not None
    assert blobs.read(sha) == b"Customers may return unworn shoes."
