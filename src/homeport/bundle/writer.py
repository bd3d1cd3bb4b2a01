"""Write a bundle as a stream, resumably.

Records are appended to their part as JSON lines; blobs are stored by the sha256 of their
bytes. ``checkpoint(cursors)`` makes everything written so far durable and records where the
source stands; after a crash, ``BundleWriter(..., resume=True)`` cuts every part back to its
last checkpoint and hands the cursors back, so the source continues with no record lost or
written twice.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import orjson

from homeport.bundle.crypto import SegmentWriter, count_segments, key_check
from homeport.bundle.errors import BundleError
from homeport.bundle.manifest import MANIFEST, Manifest, PartInfo, utc_now
from homeport.bundle.schema import PARTS, Record, check_part, part_file
from homeport.bundle.storage import BLOBS, blob_name

_BATCH = 256 * 1024
ENCRYPTION = "AES-256-GCM"


class _HashingSink:
    """A file that hashes and counts every byte written to it."""

    def __init__(self, handle: BinaryIO, digest: Any, size: int) -> None:
        self.handle = handle
        self.digest = digest
        self.size = size

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)


class _PartWriter:
    def __init__(self, folder: Path, name: str, info: PartInfo, key: bytes | None) -> None:
        self.info = info
        path = folder / part_file(name)
        digest = hashlib.sha256()
        if path.exists():
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        elif info.bytes:
            raise BundleError(f"part {path.name} is missing from the bundle it resumes")
        self.sink = _HashingSink(path.open("ab"), digest, info.bytes)
        self.cipher: SegmentWriter | None = None
        if key is not None:
            prefix = None
            if info.bytes:
                with path.open("rb") as handle:
                    prefix, _ = count_segments(handle, path.name)
            self.cipher = SegmentWriter(
                self.sink, key, path.name, prefix=prefix, segments=info.segments
            )
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.count = info.count

    def write(self, line: bytes) -> None:
        self.pending.append(line)
        self.pending_bytes += len(line)
        self.count += 1
        if self.pending_bytes >= _BATCH:
            self._drain()

    def _drain(self) -> None:
        if not self.pending:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        self.pending_bytes = 0
        if self.cipher is not None:
            self.cipher.write(data)
        else:
            self.sink.write(data)

    def commit(self) -> None:
        self._drain()
        if self.cipher is not None:
            self.cipher.flush()
            self.info.segments = self.cipher.segments
        self.sink.handle.flush()
        os.fsync(self.sink.handle.fileno())
        self.info.count = self.count
        self.info.bytes = self.sink.size
        self.info.sha256 = self.sink.digest.hexdigest()

    def close(self) -> None:
        self.sink.handle.close()


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as handle:
        handle.truncate(size)


class BundleWriter:
    """Writes one bundle folder. Use as a context manager: a clean exit completes the bundle,
    an exception leaves it resumable at its last checkpoint."""

    def __init__(
        self,
        folder: Path,
        *,
        source: dict[str, Any],
        key: bytes | None = None,
        resume: bool = False,
    ) -> None:
        self.folder = folder
        self.key = key
        self._parts: dict[str, _PartWriter] = {}
        if (folder / MANIFEST).exists():
            if not resume:
                raise BundleError(
                    f"{folder} already holds a bundle: pass --resume to continue it, "
                    "or choose a new folder"
                )
            self.manifest = Manifest.load(folder)
            self._check_key()
            self.manifest.completed_at = None
            self._cut_back()
        else:
            if folder.exists() and any(folder.iterdir()):
                raise BundleError(f"{folder} is not empty and holds no bundle: choose a new folder")
            folder.mkdir(parents=True, exist_ok=True)
            encryption = None
            if key is not None:
                encryption = {"algorithm": ENCRYPTION, "key_check": key_check(key)}
            self.manifest = Manifest(source=source, encryption=encryption)
            self.manifest.save(folder)
        (folder / BLOBS).mkdir(exist_ok=True)

    def _cut_back(self) -> None:
        """Drop whatever was written after the last checkpoint."""
        for part in PARTS:
            path = self.folder / part_file(part)
            if path.exists():
                info = self.manifest.parts.get(part)
                _truncate(path, info.bytes if info else 0)
        for tmp in (self.folder / BLOBS).glob("tmp-*"):
            tmp.unlink()

    def _check_key(self) -> None:
        encryption = self.manifest.encryption
        if encryption is None and self.key is not None:
            raise BundleError("this bundle was started unencrypted: resume it without a key")
        if encryption is not None:
            if self.key is None:
                raise BundleError("this bundle is encrypted: give its key (--key-file or env)")
            if encryption.get("key_check") != key_check(self.key):
                raise BundleError("wrong key: it is not the key this bundle was started with")

    @property
    def cursors(self) -> dict[str, Any]:
        """Where the source stood at the last checkpoint (empty for a new bundle)."""
        return self.manifest.cursors

    def count(self, part: str) -> int:
        writer = self._parts.get(part)
        return writer.count if writer else self.manifest.count(part)

    def write(self, part: str, record: Record) -> None:
        writer = self._parts.get(part)
        if writer is None:
            check_part(part)
            writer = _PartWriter(self.folder, part, self.manifest.part(part), self.key)
            self._parts[part] = writer
        writer.write(orjson.dumps(record) + b"\n")

    def put_blob(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store bytes (given as chunks) once by content; returns (sha256, size)."""
        tmp = self.folder / BLOBS / f"tmp-{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        size = 0
        with tmp.open("wb") as handle:
            out: Any = handle
            if self.key is not None:
                out = SegmentWriter(handle, self.key, "blob")
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            if isinstance(out, SegmentWriter):
                out.flush()
            handle.flush()
            os.fsync(handle.fileno())
        sha = digest.hexdigest()
        final = self.folder / blob_name(sha)
        if final.exists():
            tmp.unlink()
        else:
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp, final)
        return sha, size

    def checkpoint(self, cursors: dict[str, Any] | None = None) -> None:
        """Make everything written so far durable, with the source's position."""
        for writer in self._parts.values():
            writer.commit()
        if cursors is not None:
            self.manifest.cursors = cursors
        self.manifest.save(self.folder)

    def finish(self) -> Manifest:
        """Commit and mark the bundle complete."""
        count = size = 0
        for path in (self.folder / BLOBS).glob("*/*"):
            count += 1
            size += path.stat().st_size
        self.manifest.blobs = {"count": count, "bytes": size}
        self.manifest.completed_at = utc_now()
        self.checkpoint()
        self.close()
        return self.manifest

    def close(self) -> None:
        for writer in self._parts.values():
            writer.close()
        self._parts.clear()

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.close()
