"""``openai-objects``: an offline dump of OpenAI API objects.

What teams saved before the Assistants API shut down: any folder of ``.json`` and ``.jsonl``
files holding API objects or list pages (``{"object": "list", "data": [...]}``), or JSON arrays
of objects, in any layout. Objects are recognised by their ``object`` field; the same object
seen twice is exported once. File bytes are files named by the file's ID (optionally with an
extension) under any ``file-contents/`` folder.

The dump is read twice: first everything but messages, runs and steps is exported while those
are indexed (IDs, timestamps and positions, in a scratch SQLite file that is deleted at the
end), then messages are written thread by thread in conversation order, then runs and steps.
Memory stays flat however large a file: ``.jsonl`` files are read line by line, and ``.json``
documents that are arrays or list pages are streamed element by element (ijson); an indexed
object from a ``.json`` file is kept in the scratch index, since it cannot be sought again.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson
import orjson

from homeport.bundle import FLAG_AGENT_MISSING, Record
from homeport.sources import openai_mapping as to
from homeport.sources.base import ExportContext, Source, SourceOptions
from homeport.sources.errors import SourceError

CONTENTS_DIR = "file-contents"
INDEXED = {"thread.message": "items", "thread.run": "runs", "thread.run.step": "run_steps"}
DIRECT = {
    "assistant",
    "file",
    "vector_store",
    "vector_store.file",
    "thread",
    "response",
    "conversation",
}
ORDER = {
    "items": "conversation_id, created_at, ordinal",
    "runs": "conversation_id, created_at, ordinal",
    "run_steps": "run_id, created_at, ordinal",
}


class OpenAIObjectsOptions(SourceOptions):
    path: Path


class _Dump:
    """The dump's files and a reader that finds an object again by its position: (file number,
    byte offset of its line or -1 for a JSON document, index inside that line/document)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise SourceError(f"{root} is not a folder of OpenAI API objects")
        self.files = sorted(
            p
            for p in root.rglob("*")
            if p.is_file() and p.suffix in (".json", ".jsonl") and CONTENTS_DIR not in p.parts
        )
        self.contents: dict[str, Path] = {}
        for path in root.rglob("*"):
            if path.is_file() and CONTENTS_DIR in path.parts:
                self.contents.setdefault(path.name, path)
                self.contents.setdefault(path.stem, path)
        self._handles: dict[int, Any] = {}

    def objects(self) -> Iterator[tuple[tuple[int, int, int], dict[str, Any], bool]]:
        for number, path in enumerate(self.files):
            if path.suffix == ".jsonl":
                with path.open("rb") as handle:
                    offset = 0
                    for line in handle:
                        if line.strip():
                            for index, (obj, desc) in enumerate(_flatten(_loads(line, path))):
                                yield (number, offset, index), obj, desc
                        offset += len(line)
            else:
                for index, (obj, desc) in enumerate(_document(path)):
                    yield (number, -1, index), obj, desc

    def fetch(self, position: tuple[int, int, int]) -> dict[str, Any]:
        """An object of a ``.jsonl`` line, read again at its offset."""
        number, offset, index = position
        path = self.files[number]
        if number not in self._handles:
            self._handles[number] = path.open("rb")
        handle = self._handles[number]
        handle.seek(offset)
        return list(_flatten(_loads(handle.readline(), path)))[index][0]

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()


def _loads(data: bytes, path: Path) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{path}: not valid JSON ({exc})") from exc


def _document(path: Path) -> Iterator[tuple[dict[str, Any], bool]]:
    """The API objects of a ``.json`` document (as ``_flatten`` finds them), an array's
    elements and a list page's ``data`` streamed one at a time."""
    try:
        with path.open("rb") as handle:
            start = handle.read(64).lstrip()[:1]
            handle.seek(0)
            if start == b"[":
                for element in ijson.items(handle, "item", use_float=True):
                    yield from _flatten(element)
                return
            descending = _list_page(handle) if start == b"{" else None
            handle.seek(0)
            if descending is None:
                yield from _flatten(_loads(handle.read(), path))
                return
            for element in ijson.items(handle, "data.item", use_float=True):
                yield from _flatten(element, descending)
    except ijson.JSONError as exc:
        raise SourceError(f"{path}: not valid JSON ({exc})") from exc


def _list_page(handle: Any) -> bool | None:
    """For a list page, whether it lists newest first (its first and last object's
    ``created_at``, as ``_flatten`` decides); None for any other document. One streamed pass."""
    kind = None
    is_array = False
    count = 0
    first = last = stamp = 0.0
    for prefix, event, value in ijson.parse(handle, use_float=True):
        if prefix == "object" and event == "string":
            kind = value
        elif prefix == "data" and event == "start_array":
            is_array = True
        elif prefix == "data.item" and event == "start_map":
            stamp = 0.0
        elif prefix == "data.item.created_at" and event == "number":
            stamp = value or 0.0
        elif prefix == "data.item" and event == "end_map":
            count += 1
            first = stamp if count == 1 else first
            last = stamp
    if kind != "list" or not is_array:
        return None
    return count > 1 and first > last


def _flatten(value: Any, descending: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    """API objects inside a document: itself, a list page's data, or an array's elements, each
    with whether its page lists newest first (the API's default order)."""
    if isinstance(value, list):
        for element in value:
            yield from _flatten(element, descending)
    elif isinstance(value, dict):
        if value.get("object") == "list" and isinstance(value.get("data"), list):
            data = value["data"]
            stamps = [o.get("created_at") or 0 for o in data if isinstance(o, dict)]
            newest_first = len(stamps) > 1 and stamps[0] > stamps[-1]
            yield from _flatten(data, newest_first)
        elif isinstance(value.get("object"), str) and "id" in value:
            yield value, descending


class _Index:
    """Scratch SQLite: which objects were seen, and where the ordered ones are. No content."""

    def __init__(self, folder: Path) -> None:
        self.db = sqlite3.connect(folder / "index.sqlite")
        self.db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
            CREATE TABLE seen (kind TEXT, id TEXT, PRIMARY KEY (kind, id)) WITHOUT ROWID;
            CREATE TABLE pos (part TEXT, conversation_id TEXT, run_id TEXT, created_at INTEGER,
                              ordinal INTEGER, file INTEGER, offset INTEGER, idx INTEGER,
                              body BLOB);
            """
        )
        self.ordinal = 0

    def first_time(self, kind: str, object_id: str) -> bool:
        cursor = self.db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (kind, object_id))
        return cursor.rowcount == 1

    def add(
        self, part: str, obj: dict[str, Any], position: tuple[int, int, int], descending: bool
    ) -> None:
        """Index an object; among equal timestamps, objects of newest-first pages sort in
        reverse of the order they were read. An object of a ``.json`` document is kept whole."""
        self.ordinal += 1
        self.db.execute(
            "INSERT INTO pos VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                part,
                obj.get("thread_id"),
                obj.get("run_id"),
                obj.get("created_at") or 0,
                -self.ordinal if descending else self.ordinal,
                *position,
                orjson.dumps(obj) if position[1] < 0 else None,
            ),
        )

    def ordered(self, part: str, skip: int) -> Iterator[tuple[tuple[int, int, int], bytes | None]]:
        """Positions in export order, each with the object itself where it was kept."""
        query = (
            f"SELECT file, offset, idx, body FROM pos WHERE part = ? ORDER BY {ORDER[part]} "
            "LIMIT -1 OFFSET ?"
        )
        for row in self.db.execute(query, (part, skip)):
            yield (row[0], row[1], row[2]), row[3]

    def close(self) -> None:
        self.db.close()


class OpenAIObjectsSource(Source):
    kind = "openai-objects"
    description = "A folder of saved OpenAI API objects (.json / .jsonl), with file contents."
    Options = OpenAIObjectsOptions
    options: OpenAIObjectsOptions

    def export(self, ctx: ExportContext) -> None:
        dump = _Dump(self.options.path)
        cursors = ctx.cursors
        if cursors.get("phase") == "done":
            return
        with tempfile.TemporaryDirectory(prefix="homeport-index-") as scratch:
            index = _Index(Path(scratch))
            try:
                fresh = "phase" not in cursors
                agents = self._first_pass(ctx, dump, index, write=fresh)
                if fresh:
                    ctx.checkpoint({"phase": "items", "done": 0}, force=True)
                self._ordered(ctx, dump, index, agents, ctx.cursors)
            finally:
                index.close()
                dump.close()
        ctx.checkpoint({"phase": "done"}, force=True)

    def _first_pass(
        self, ctx: ExportContext, dump: _Dump, index: _Index, *, write: bool
    ) -> set[str]:
        agents: set[str] = set()
        for position, obj, descending in dump.objects():
            kind = obj["object"]
            if kind not in DIRECT and kind not in INDEXED:
                continue
            key = obj["id"]
            if kind == "vector_store.file":
                key = f"{obj.get('vector_store_id')}/{key}"
            if not index.first_time(kind, key):
                continue
            if kind == "assistant":
                agents.add(obj["id"])
            if kind in INDEXED:
                index.add(INDEXED[kind], obj, position, descending)
            elif write:
                for part, record in self._records(ctx, dump, obj):
                    ctx.write(part, record)
        return agents

    def _records(
        self, ctx: ExportContext, dump: _Dump, obj: dict[str, Any]
    ) -> list[tuple[str, Record]]:
        kind = obj["object"]
        if kind == "assistant":
            return [("agents", to.agent(obj))] + [("tools", t) for t in to.tools(obj)]
        if kind == "file":
            content = dump.contents.get(obj["id"])
            sha = ctx.put_blob(_chunks(content)) if content else None
            return [("files", to.file(obj, sha256=sha))]
        if kind == "vector_store":
            return [("vector_stores", to.vector_store(obj))]
        if kind == "vector_store.file":
            return [("vector_store_files", to.vector_store_file(obj))]
        if kind in ("thread", "conversation"):
            return [("conversations", to.conversation(obj))]
        return [("runs", to.response(obj))]

    def _ordered(
        self,
        ctx: ExportContext,
        dump: _Dump,
        index: _Index,
        agents: set[str],
        cursors: dict[str, Any],
    ) -> None:
        parts = ("items", "runs", "run_steps")
        start = parts.index(cursors["phase"]) if cursors.get("phase") in parts else 0
        for n, part in enumerate(parts[start:], start):
            done = int(cursors.get("done", 0)) if n == start else 0
            for position, body in index.ordered(part, done):
                obj = orjson.loads(body) if body is not None else dump.fetch(position)
                record = {"items": to.message, "runs": to.run, "run_steps": to.step}[part](obj)
                if part != "run_steps" and record["agent_id"] and record["agent_id"] not in agents:
                    record.setdefault("flags", []).append(FLAG_AGENT_MISSING)
                ctx.write(part, record)
                done += 1
                ctx.checkpoint({"phase": part, "done": done})
            ctx.checkpoint({"phase": parts[n + 1] if n + 1 < len(parts) else "done", "done": 0})


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from iter(lambda: handle.read(1 << 20), b"")
