"""``homeport bundle verify``: every checksum, count and blob reference of a bundle, checked."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from homeport.bundle.errors import BundleError
from homeport.bundle.reader import BundleReader


@dataclass
class VerifyReport:
    complete: bool
    counts: dict[str, int] = field(default_factory=dict)
    blobs: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "complete": self.complete,
            "counts": self.counts,
            "blobs": self.blobs,
            "problems": self.problems,
        }


def verify_bundle(reader: BundleReader) -> VerifyReport:
    manifest = reader.manifest
    report = VerifyReport(complete=manifest.complete)
    if not manifest.complete:
        report.problems.append("the export did not finish: resume it with --resume")
    referenced: set[str] = set()
    locked = reader.encrypted and reader.key is None
    for part in reader.parts():
        info = manifest.parts[part]
        if not reader.storage.exists(info.file):
            report.problems.append(f"{info.file}: missing")
            continue
        size = reader.storage.size(info.file)
        if size != info.bytes:
            report.problems.append(f"{info.file}: {size} bytes stored, manifest says {info.bytes}")
        digest = hashlib.sha256()
        with reader.open_stored(part) as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != info.sha256:
            report.problems.append(f"{info.file}: sha256 differs from the manifest")
            continue
        if locked:
            continue
        count = 0
        try:
            for record in reader.records(part):
                count += 1
                if part == "files":
                    referenced.update(
                        h for h in (record.get("sha256"), record.get("text_sha256")) if h
                    )
        except BundleError as exc:
            report.problems.append(f"{info.file}: {exc}")
            continue
        report.counts[part] = count
        if count != info.count:
            report.problems.append(f"{info.file}: {count} records, manifest says {info.count}")
    if locked:
        report.problems.append("encrypted: records and blobs were not checked; give the key")
        return report
    stored = set()
    for sha in reader.blob_hashes():
        stored.add(sha)
        try:
            actual, _ = reader.blob_digest(sha)
        except BundleError as exc:
            report.problems.append(f"blob {sha}: {exc}")
            continue
        if actual != sha:
            report.problems.append(f"blob {sha}: its bytes hash to {actual}")
    report.blobs = len(stored)
    if manifest.complete and len(stored) != manifest.blobs.get("count"):
        report.problems.append(
            f"{len(stored)} blobs stored, manifest says {manifest.blobs.get('count')}"
        )
    for sha in sorted(referenced - stored):
        report.problems.append(f"blob {sha} is referenced by a file record but missing")
    return report
