"""The manifest: what a bundle holds, where it came from, and where an export stopped.

``manifest.json`` is plaintext even in an encrypted bundle: it holds counts, sizes, checksums,
the source's kind and non-secret options, and the source's resume cursors (object IDs).
It is replaced atomically (write, fsync, rename), so it always describes committed data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from homeport.bundle.errors import BundleError
from homeport.bundle.schema import FORMAT, PARTS, SCHEMA_VERSION, part_file

MANIFEST = "manifest.json"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class PartInfo:
    """One part as committed: records, stored bytes and the sha256 of those bytes."""

    file: str
    count: int = 0
    bytes: int = 0
    sha256: str = ""
    segments: int = 0  # encrypted parts only

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "count": self.count,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }
        if self.segments:
            out["segments"] = self.segments
        return out


@dataclass
class Manifest:
    source: dict[str, Any]
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)
    completed_at: str | None = None
    schema_version: int = SCHEMA_VERSION
    encryption: dict[str, Any] | None = None
    parts: dict[str, PartInfo] = field(default_factory=dict)
    blobs: dict[str, int] = field(default_factory=lambda: {"count": 0, "bytes": 0})
    cursors: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.completed_at is not None

    def part(self, name: str) -> PartInfo:
        if name not in self.parts:
            self.parts[name] = PartInfo(file=part_file(name))
        return self.parts[name]

    def count(self, name: str) -> int:
        info = self.parts.get(name)
        return info.count if info else 0

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in PARTS}

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": self.schema_version,
            "source": self.source,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "completed_at": self.completed_at,
            "encryption": self.encryption,
            "parts": {name: info.as_dict() for name, info in self.parts.items()},
            "blobs": self.blobs,
            "cursors": self.cursors,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format") != FORMAT:
            raise BundleError(
                "not a homeport bundle: manifest.json has no 'homeport-bundle' format"
            )
        version = data.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise BundleError(
                f"bundle schema version {version} is newer than this homeport reads "
                f"({SCHEMA_VERSION}): upgrade homeport"
            )
        parts = {}
        for name, info in data.get("parts", {}).items():
            if name not in PARTS:
                raise BundleError(f"manifest names an unknown part '{name}'")
            parts[name] = PartInfo(**info)
        return cls(
            source=data.get("source", {}),
            created_at=data.get("created_at", ""),
            updated_at=data.get("updated_at", ""),
            completed_at=data.get("completed_at"),
            schema_version=version,
            encryption=data.get("encryption"),
            parts=parts,
            blobs=data.get("blobs", {"count": 0, "bytes": 0}),
            cursors=data.get("cursors", {}),
        )

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BundleError(f"manifest.json is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BundleError("manifest.json must hold a JSON object")
        return cls.from_dict(data)

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        try:
            raw = (folder / MANIFEST).read_bytes()
        except FileNotFoundError as exc:
            raise BundleError(f"{folder} is not a bundle: it has no {MANIFEST}") from exc
        return cls.parse(raw)

    def save(self, folder: Path) -> None:
        self.updated_at = utc_now()
        tmp = folder / (MANIFEST + ".tmp")
        with tmp.open("wb") as handle:
            handle.write(orjson.dumps(self.as_dict(), option=orjson.OPT_INDENT_2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / MANIFEST)
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
