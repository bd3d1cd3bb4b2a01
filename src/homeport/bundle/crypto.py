"""Encryption at rest: AES-256-GCM over a stream, in segments, so memory stays flat.

A file is ``MAGIC`` + an 8-byte random nonce prefix, then segments: a 4-byte big-endian length
and the ciphertext (with its 16-byte tag) of at most ``SEGMENT_BYTES`` of plaintext. Segment
``n`` is sealed with nonce ``prefix || n`` and the file's name as associated data, so segments
cannot be reordered or moved between files; truncation is caught by the manifest's size and
checksum. Plaintext only ever exists in memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import struct
from pathlib import Path
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from homeport.bundle.errors import BundleError

MAGIC = b"HPBENC1\n"
PREFIX_BYTES = 8
SEGMENT_BYTES = 1 << 20
TAG_BYTES = 16
KEY_ENV = "HOMEPORT_BUNDLE_KEY"
_LENGTH = struct.Struct(">I")


def new_key() -> bytes:
    return os.urandom(32)


def parse_key(text: str | bytes) -> bytes:
    """A 32-byte key from raw bytes, hex or base64 (what ``homeport bundle keygen`` writes)."""
    if isinstance(text, bytes) and len(text) == 32:
        return text
    value = text.decode() if isinstance(text, bytes) else text
    value = value.strip()
    for decode in (bytes.fromhex, base64.b64decode):
        try:
            key = decode(value)
        except (ValueError, binascii.Error):
            continue
        if len(key) == 32:
            return key
    raise BundleError("a bundle key must be 32 bytes, written as hex or base64")


def load_key(key_file: Path | None = None, *, env: str = KEY_ENV) -> bytes | None:
    """The key from ``key_file``, else from the environment variable ``env``, else None."""
    if key_file is not None:
        try:
            return parse_key(key_file.read_bytes())
        except OSError as exc:
            raise BundleError(f"cannot read the key file {key_file}: {exc.strerror}") from exc
    value = os.environ.get(env)
    return parse_key(value) if value else None


def key_check(key: bytes) -> str:
    """A fingerprint stored in the manifest so a wrong key is named as such, not as corruption."""
    return hashlib.sha256(b"homeport-bundle-key-check" + key).hexdigest()[:16]


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


class SegmentWriter:
    """Encrypts what is written to ``sink`` segment by segment.

    A new file gets a header; to append to an existing one pass its ``prefix`` and the number
    of ``segments`` it holds (``count_segments``).
    """

    def __init__(
        self,
        sink: Sink,
        key: bytes,
        name: str,
        *,
        prefix: bytes | None = None,
        segments: int = 0,
    ) -> None:
        self._sink = sink
        self._aead = AESGCM(key)
        self._aad = name.encode()
        self._buffer = bytearray()
        self.segments = segments
        if prefix is None:
            prefix = os.urandom(PREFIX_BYTES)
            sink.write(MAGIC + prefix)
        self._prefix = prefix

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= SEGMENT_BYTES:
            self._seal(bytes(self._buffer[:SEGMENT_BYTES]))
            del self._buffer[:SEGMENT_BYTES]

    def flush(self) -> None:
        """Seal what is buffered as a (short) segment, so everything written so far is stored."""
        if self._buffer:
            self._seal(bytes(self._buffer))
            self._buffer.clear()

    def _seal(self, plain: bytes) -> None:
        nonce = self._prefix + struct.pack(">I", self.segments)
        sealed = self._aead.encrypt(nonce, plain, self._aad)
        self._sink.write(_LENGTH.pack(len(sealed)) + sealed)
        self.segments += 1


def read_header(source: BinaryIO, name: str) -> bytes:
    header = source.read(len(MAGIC) + PREFIX_BYTES)
    if header[: len(MAGIC)] != MAGIC or len(header) != len(MAGIC) + PREFIX_BYTES:
        raise BundleError(f"{name} is not an encrypted bundle part")
    return header[len(MAGIC) :]


def count_segments(source: BinaryIO, name: str) -> tuple[bytes, int]:
    """The nonce prefix and the number of whole segments (used to resume appending)."""
    prefix = read_header(source, name)
    count = 0
    while True:
        head = source.read(_LENGTH.size)
        if len(head) < _LENGTH.size:
            return prefix, count
        source.seek(_LENGTH.unpack(head)[0], io.SEEK_CUR)
        count += 1


class DecryptingReader(io.RawIOBase):
    """A readable stream of the plaintext of an encrypted file, at most ``limit`` stored bytes."""

    def __init__(self, source: BinaryIO, key: bytes, name: str, *, limit: int | None = None):
        super().__init__()
        self._source = source
        self._aead = AESGCM(key)
        self._aad = name.encode()
        self._name = name
        self._left = limit
        self._prefix = read_header(source, name)
        if self._left is not None:
            self._left -= len(MAGIC) + PREFIX_BYTES
        self._counter = 0
        self._pending = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def _read_stored(self, size: int) -> bytes:
        if self._left is not None:
            size = min(size, self._left)
        data = self._source.read(size)
        if self._left is not None:
            self._left -= len(data)
        return data

    def _next_segment(self) -> bool:
        head = self._read_stored(_LENGTH.size)
        if not head:
            return False
        length = _LENGTH.unpack(head)[0] if len(head) == _LENGTH.size else -1
        sealed = self._read_stored(length) if length > 0 else b""
        if length < TAG_BYTES or len(sealed) != length:
            raise BundleError(f"{self._name} is truncated")
        nonce = self._prefix + struct.pack(">I", self._counter)
        try:
            self._pending = self._aead.decrypt(nonce, sealed, self._aad)
            self._pos = 0
        except InvalidTag as exc:
            raise BundleError(f"{self._name}: wrong key or tampered data") from exc
        self._counter += 1
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._pos >= len(self._pending):
            if not self._next_segment():
                return 0
        n = min(len(buffer), len(self._pending) - self._pos)
        buffer[:n] = self._pending[self._pos : self._pos + n]
        self._pos += n
        return n
