"""Read a bundle (folder or archive) as streams of records and blobs.

Only what the manifest says was committed is read, so a bundle whose export was interrupted
reads consistently up to its last checkpoint. This is the stable API the importer, reconcile
and the audit build on.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import orjson

from homeport.bundle.crypto import DecryptingReader, key_check
from homeport.bundle.errors import BundleError
from homeport.bundle.manifest import MANIFEST, Manifest
from homeport.bundle.schema import PARTS, Record, check_part
from homeport.bundle.storage import Storage, blob_name, open_storage


class _Limited(io.RawIOBase):
    """At most ``limit`` bytes of ``source``."""

    def __init__(self, source: BinaryIO, limit: int) -> None:
        super().__init__()
        self._source = source
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        n = self._source.readinto(view)  # type: ignore[attr-defined]
        self._left -= n
        return int(n)


class BundleReader:
    """A bundle opened for reading. The manifest is plaintext; ``key`` is needed to read the
    records and blobs of an encrypted bundle."""

    def __init__(self, path: Path, *, key: bytes | None = None) -> None:
        self.path = path
        self.storage: Storage = open_storage(path)
        with self.storage.open(MANIFEST) as handle:
            self.manifest = Manifest.parse(handle.read())
        self.key = key
        encryption = self.manifest.encryption
        if (
            encryption is not None
            and key is not None
            and encryption.get("key_check") != key_check(key)
        ):
            raise BundleError("wrong key: it does not open this bundle")

    @property
    def encrypted(self) -> bool:
        return self.manifest.encryption is not None

    def count(self, part: str) -> int:
        """Records in ``part`` according to the manifest."""
        check_part(part)
        return self.manifest.count(part)

    def counts(self) -> dict[str, int]:
        return self.manifest.counts()

    def open_stored(self, part: str) -> BinaryIO:
        """The committed stored bytes of a part (ciphertext when encrypted)."""
        info = self.manifest.parts[part]
        return io.BufferedReader(_Limited(self.storage.open(info.file), info.bytes))

    def _key(self) -> bytes | None:
        if self.encrypted and self.key is None:
            raise BundleError(
                "this bundle is encrypted: give its key with --key-file or HOMEPORT_BUNDLE_KEY"
            )
        return self.key if self.encrypted else None

    def _plain(self, part: str) -> BinaryIO:
        info = self.manifest.parts[part]
        key = self._key()
        stored = self.storage.open(info.file)
        if key is None:
            return io.BufferedReader(_Limited(stored, info.bytes), 1 << 16)
        raw = DecryptingReader(stored, key, info.file, limit=info.bytes)
        return io.BufferedReader(raw, 1 << 16)

    def records(self, part: str) -> Iterator[Record]:
        """Every record of ``part`` in bundle order, one at a time."""
        check_part(part)
        if part not in self.manifest.parts:
            return
        with self._plain(part) as handle:
            for number, line in enumerate(handle, 1):
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise BundleError(f"{part}.jsonl line {number} is not valid JSON") from exc

    def lines(self, part: str) -> Iterator[bytes]:
        """Every record of ``part`` as its JSON line (without the newline), unparsed: for
        readers that hand the JSON on as it is (the importer lets the database parse it)."""
        check_part(part)
        if part not in self.manifest.parts:
            return
        with self._plain(part) as handle:
            for line in handle:
                yield line.rstrip(b"\n")

    def parts(self) -> list[str]:
        """The parts this bundle holds, in load order (parents first)."""
        return [part for part in PARTS if part in self.manifest.parts]

    def blob_hashes(self) -> Iterator[str]:
        return self.storage.blob_hashes()

    def has_blob(self, sha256: str) -> bool:
        return self.storage.exists(blob_name(sha256))

    def open_blob(self, sha256: str) -> BinaryIO:
        """The bytes of a blob as a stream (decrypted when the bundle is encrypted)."""
        key = self._key()
        stored = self.storage.open(blob_name(sha256))
        if key is None:
            return stored
        return io.BufferedReader(DecryptingReader(stored, key, "blob"), 1 << 16)

    def read_blob(self, sha256: str) -> bytes:
        with self.open_blob(sha256) as handle:
            return handle.read()

    def blob_digest(self, sha256: str) -> tuple[str, int]:
        """The actual sha256 and size of a stored blob's bytes, read as a stream."""
        digest = hashlib.sha256()
        size = 0
        with self.open_blob(sha256) as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

    def close(self) -> None:
        self.storage.close()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_bundle(path: Path, *, key: bytes | None = None) -> BundleReader:
    return BundleReader(path, key=key)
