"""What a source is, how sources register, and the context an export runs in.

A source is a small class with an ``Options`` model and one method, ``export(ctx)``, that
writes records into the bundle through ``ctx`` and calls ``ctx.checkpoint(cursors)`` whenever
the records so far form a consistent prefix. Built-in sources register through the same entry
point group as third-party ones (``homeport.sources``, listed by ``registry``), so a plugin
adds a platform by declaring
``[project.entry-points."homeport.sources"] my-platform = "pkg.module:MySource"``.
"""

from __future__ import annotations

import importlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from homeport.bundle import BundleReader, BundleWriter, Manifest, Record
from homeport.sources.errors import SourceError
from homeport.sources.registry import available_sources

CHECKPOINT_SECONDS = 2.0


class SourceOptions(BaseModel):
    """Options every source takes; sources extend this. Secrets are ``SecretStr`` fields and
    never reach the manifest."""

    model_config = ConfigDict(extra="forbid")

    rate: float | None = None  # requests per second; None = as fast as the platform answers
    max_retries: int = 8

    def public(self) -> dict[str, Any]:
        """The options as recorded in the manifest: secrets left out."""
        secret = {name for name, value in self if isinstance(value, SecretStr)}
        return self.model_dump(mode="json", exclude=secret)


ProgressHook = Callable[[dict[str, int]], None]


class ExportContext:
    """The bundle being written, as a source sees it."""

    def __init__(
        self,
        writer: BundleWriter,
        *,
        progress: ProgressHook | None = None,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> None:
        self.writer = writer
        self._progress = progress
        self._every = checkpoint_seconds
        self._last = time.monotonic()
        self._since_report = 0

    @property
    def cursors(self) -> dict[str, Any]:
        """Where the previous run stopped (empty on a fresh export)."""
        return dict(self.writer.cursors)

    def write(self, part: str, record: Record) -> None:
        self.writer.write(part, record)
        self._since_report += 1
        if self._since_report >= 200:
            self.report()

    def put_blob(self, chunks: Iterable[bytes]) -> str:
        return self.writer.put_blob(chunks)[0]

    def checkpoint(self, cursors: dict[str, Any], *, force: bool = False) -> None:
        """Record that everything written so far is complete up to ``cursors``. Commits to disk
        at most every few seconds unless ``force``."""
        now = time.monotonic()
        if force or now - self._last >= self._every:
            self.writer.checkpoint(cursors)
            self._last = now
            self.report()

    def committed(self, part: str) -> Iterator[Record]:
        """Records of ``part`` committed by an earlier checkpoint (to rebuild state on resume)."""
        with BundleReader(self.writer.folder, key=self.writer.key) as reader:
            yield from reader.records(part)

    def report(self) -> None:
        self._since_report = 0
        if self._progress is not None:
            counts = {part: self.writer.count(part) for part in self.writer.manifest.counts()}
            self._progress(counts)


class Source(ABC):
    """One managed platform, read-only."""

    kind: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type[SourceOptions]] = SourceOptions

    def __init__(self, options: SourceOptions) -> None:
        self.options = options

    @abstractmethod
    def export(self, ctx: ExportContext) -> None:
        """Write every object of the platform into ``ctx``; continue from ``ctx.cursors``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once the export ends."""


def source_class(kind: str) -> type[Source]:
    target = available_sources().get(kind)
    if target is None:
        raise SourceError(
            f"unknown source '{kind}': choose one of {', '.join(sorted(available_sources()))}"
        )
    module_name, _, attr = target.partition(":")
    cls: type[Source] = getattr(importlib.import_module(module_name), attr)
    return cls


def make_source(kind: str, values: dict[str, Any]) -> Source:
    """The source ``kind`` with its options validated; a bad option names its key."""
    cls = source_class(kind)
    try:
        options = cls.Options(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise SourceError(f"{kind} option '{key}': {first['msg']}") from exc
    return cls(options)


def run_export(
    source: Source,
    out: Path,
    *,
    key: bytes | None = None,
    resume: bool = False,
    progress: ProgressHook | None = None,
) -> Manifest:
    """Export ``source`` into the bundle folder ``out`` (continuing it with ``resume``)."""
    origin = {"kind": source.kind, "options": source.options.public()}
    writer = BundleWriter(out, source=origin, key=key, resume=resume)
    if resume and writer.manifest.source.get("kind") != source.kind:
        writer.close()
        raise SourceError(
            f"{out} was exported from '{writer.manifest.source.get('kind')}', not '{source.kind}'"
        )
    try:
        with writer:
            source.export(ExportContext(writer, progress=progress))
    finally:
        source.close()
    return writer.manifest
