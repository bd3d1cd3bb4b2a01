"""Blob storage for uploaded files, addressed by sha256.

``LocalBlobs`` keeps them under ``data_dir/blobs/ab/cdef…``, written to a temporary file in the
same folder and renamed into place, so a reader never sees half a blob. ``S3Blobs`` puts them in
an S3-compatible bucket. Equal content is stored once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from homeport.config import ConfigError, Settings
from homeport.errors import InvalidRequest

CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Staged:
    """An upload copied to local disk and hashed, not yet in the blob store."""

    path: Path
    sha256: str
    size: int


def stage(source: IO[bytes], *, folder: Path, limit: int) -> Staged:
    """Copy ``source`` to a temporary file in ``folder`` while hashing it; refuse more than
    ``limit`` bytes (the partial copy is removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    handle, name = tempfile.mkstemp(dir=folder, prefix=".upload-")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            while block := source.read(CHUNK):
                size += len(block)
                if size > limit:
                    raise InvalidRequest(
                        f"File is too large: the limit is {limit} bytes "
                        "(knowledge.max_file_bytes).",
                        param="file",
                        code="file_too_large",
                    )
                digest.update(block)
                out.write(block)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Staged(path, digest.hexdigest(), size)


class BlobStore(ABC):
    staging: Path
    """Where uploads are staged before ``put`` (local disk in every case)."""

    @abstractmethod
    def put(self, staged: Staged) -> None:
        """Store a staged file under its sha256 (consumes the staged copy)."""

    @abstractmethod
    def open(self, sha256: str) -> Iterator[bytes]:
        """The blob's bytes in pieces; ``FileNotFoundError`` if it is gone."""

    @abstractmethod
    def delete(self, sha256: str) -> None: ...

    @abstractmethod
    def listing(self) -> Iterator[tuple[str, float]]:
        """Every stored blob: its sha256 and when it was last written (Unix seconds)."""

    def read(self, sha256: str) -> bytes:
        return b"".join(self.open(sha256))

    def clear_staging(self, before: float) -> int:
        """Remove staged copies last written before ``before``: what a killed upload left."""
        removed = 0
        for leftover in self.staging.glob(".upload-*") if self.staging.is_dir() else ():
            if leftover.stat().st_mtime < before:
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed


class LocalBlobs(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / ".staging"

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:]

    def put(self, staged: Staged) -> None:
        target = self._path(staged.sha256)
        if target.exists():
            staged.path.unlink(missing_ok=True)
            # Written again as far as the orphan sweep can tell: its grace period restarts.
            os.utime(target)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with staged.path.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(staged.path, target)

    def open(self, sha256: str) -> Iterator[bytes]:
        with self._path(sha256).open("rb") as handle:
            while block := handle.read(CHUNK):
                yield block

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def listing(self) -> Iterator[tuple[str, float]]:
        for folder in self.root.iterdir() if self.root.is_dir() else ():
            if len(folder.name) != 2 or not folder.is_dir():
                continue  # .staging and anything else that is not a blob folder
            for blob in folder.iterdir():
                if not blob.name.startswith("."):
                    yield folder.name + blob.name, blob.stat().st_mtime


class S3Blobs(BlobStore):
    def __init__(self, client: Any, bucket: str, prefix: str, staging: Path) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.staging = staging

    def _key(self, sha256: str) -> str:
        return f"{self.prefix}{sha256}"

    def put(self, staged: Staged) -> None:
        try:
            self.client.upload_file(str(staged.path), self.bucket, self._key(staged.sha256))
        finally:
            staged.path.unlink(missing_ok=True)

    def open(self, sha256: str) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(sha256) from exc
            raise
        yield from body.iter_chunks(CHUNK)

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(sha256))

    def listing(self) -> Iterator[tuple[str, float]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for item in page.get("Contents", ()):
                yield item["Key"][len(self.prefix) :], item["LastModified"].timestamp()


def blob_store(settings: Settings) -> BlobStore:
    knowledge = settings.knowledge
    staging = Path(settings.data_dir) / "blobs" / ".staging"
    if knowledge.blob_store == "local":
        return LocalBlobs(Path(settings.data_dir) / "blobs")
    if not knowledge.s3_bucket:
        raise ConfigError(
            "setting 'knowledge.s3_bucket': required when knowledge.blob_store is 's3'"
        )
    import boto3

    client = boto3.client(
        "s3", endpoint_url=knowledge.s3_endpoint_url, region_name=knowledge.s3_region
    )
    return S3Blobs(client, knowledge.s3_bucket, knowledge.s3_prefix, staging)
