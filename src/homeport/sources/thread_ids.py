"""Thread (or conversation) IDs from a file: where a platform cannot list them, the app's own
database or logs can. One ID per line; blank lines and ``#`` comments are skipped, repeats
are read once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from homeport.sources.errors import SourceError


def read_thread_ids(path: Path) -> Iterator[str]:
    seen: set[str] = set()
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"cannot read the ID file {path}: {exc.strerror}") from exc
    with handle:
        for line in handle:
            value = line.split("#", 1)[0].strip()
            if value and value not in seen:
                seen.add(value)
                yield value
