"""A faithful fake of a managed Assistants v2 platform, read-only, for tests, benchmarks and demos.

It answers the read side of the Assistants API as OpenAI and Azure document it: list endpoints
with ``limit`` (1-100), ``order``, ``after``/``before`` and ``has_more``; OpenAI error objects;
file downloads refused for ``assistants`` files (as OpenAI does) while the vector store file
content endpoint returns the parsed text; no ``GET /threads`` (OpenAI cannot list threads) unless
``list_threads``; and a request-rate limit answered with 429, ``Retry-After`` and
``retry-after-ms``. Azure style (``api_version`` set): routes under ``/openai``, the key in the
``api-key`` header and ``api-version`` required; otherwise routes under ``/v1`` with a Bearer key.

Data comes from the raw objects of a bundle (``PlatformData.from_bundle``) or is built in code.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeport.bundle import BundleReader

REFUSED_PURPOSES = frozenset({"assistants"})
Obj = dict[str, Any]


@dataclass
class PlatformData:
    assistants: list[Obj] = field(default_factory=list)
    files: list[Obj] = field(default_factory=list)
    file_bytes: dict[str, bytes] = field(default_factory=dict)
    file_text: dict[str, str] = field(default_factory=dict)
    vector_stores: list[Obj] = field(default_factory=list)
    vector_store_files: dict[str, list[Obj]] = field(default_factory=dict)
    threads: dict[str, Obj] = field(default_factory=dict)
    messages: dict[str, list[Obj]] = field(default_factory=dict)
    runs: dict[str, list[Obj]] = field(default_factory=dict)
    steps: dict[str, list[Obj]] = field(default_factory=dict)

    @classmethod
    def from_bundle(cls, bundle: BundleReader) -> PlatformData:
        """The platform as the bundle's raw objects describe it (Assistants-shaped sources)."""
        data = cls()
        data.assistants = [r["raw"] for r in bundle.records("agents")]
        for record in bundle.records("files"):
            data.files.append(record["raw"])
            if record.get("sha256"):
                data.file_bytes[record["id"]] = bundle.read_blob(record["sha256"])
            text_sha = record.get("text_sha256") or record.get("sha256")
            if text_sha:
                data.file_text[record["id"]] = bundle.read_blob(text_sha).decode("utf-8", "replace")
        data.vector_stores = [r["raw"] for r in bundle.records("vector_stores")]
        for record in bundle.records("vector_store_files"):
            data.vector_store_files.setdefault(record["vector_store_id"], []).append(record["raw"])
        for record in bundle.records("conversations"):
            data.threads[record["id"]] = record["raw"]
        for record in bundle.records("items"):
            data.messages.setdefault(record["conversation_id"], []).append(record["raw"])
        for record in bundle.records("runs"):
            data.runs.setdefault(record["conversation_id"], []).append(record["raw"])
        for record in bundle.records("run_steps"):
            data.steps.setdefault(record["run_id"], []).append(record["raw"])
        return data


@dataclass
class PlatformStats:
    served: int = 0
    throttled: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)


class _Bucket:
    """A token bucket: ``rate`` requests per second, ``burst`` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 if a request may pass, else the seconds until one may."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return JSONResponse(body, status_code=status)


def _page(objects: list[Obj], request: Request) -> Response:
    params = request.query_params
    try:
        limit = int(params.get("limit", "20"))
    except ValueError:
        return _error(400, "Invalid 'limit': expected an integer.")
    if not 1 <= limit <= 100:
        return _error(400, f"Invalid 'limit': integer below minimum value. Got {limit}.")
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        return _error(400, f"Invalid 'order': expected 'asc' or 'desc', got '{order}'.")
    ordered = sorted(enumerate(objects), key=lambda pair: (pair[1].get("created_at") or 0, pair[0]))
    rows = [obj for _, obj in ordered]
    if order == "desc":
        rows.reverse()
    ids = [obj["id"] for obj in rows]
    start, end = 0, len(rows)
    for name in ("after", "before"):
        cursor = params.get(name)
        if cursor is None:
            continue
        if cursor not in ids:
            return _error(400, f"Invalid '{name}': no object with id '{cursor}'.")
        if name == "after":
            start = ids.index(cursor) + 1
        else:
            end = ids.index(cursor)
    if params.get("before") is not None and params.get("after") is None:
        window = rows[max(start, end - limit) : end]
        has_more = end - limit > start
    else:
        window = rows[start : start + limit]
        has_more = start + limit < end
    return JSONResponse(
        {
            "object": "list",
            "data": window,
            "first_id": window[0]["id"] if window else None,
            "last_id": window[-1]["id"] if window else None,
            "has_more": has_more,
        }
    )


class FakeAssistantsPlatform:
    """The fake platform; ``app`` is its ASGI application (serve it with ``BackgroundServer``)."""

    def __init__(
        self,
        data: PlatformData,
        *,
        api_key: str = "fake-platform-key",
        api_version: str | None = None,
        list_threads: bool = False,
        rate: float | None = None,
        burst: float = 1.0,
        fail_every: int = 0,
    ) -> None:
        self.data = data
        self.api_key = api_key
        self.api_version = api_version
        self.list_threads = list_threads
        self.bucket = _Bucket(rate, burst) if rate else None
        self.fail_every = fail_every
        self.stats = PlatformStats()
        self._count = 0
        self._lock = threading.Lock()
        self.prefix = "/openai" if api_version else "/v1"
        self.routes: list[tuple[re.Pattern[str], Callable[..., Response]]] = [
            (re.compile(pattern), handler)
            for pattern, handler in (
                (r"assistants", self._assistants),
                (r"assistants/(?P<id>[^/]+)", self._assistant),
                (r"threads", self._threads),
                (r"threads/(?P<id>[^/]+)", self._thread),
                (r"threads/(?P<id>[^/]+)/messages", self._messages),
                (r"threads/(?P<id>[^/]+)/runs", self._runs),
                (r"threads/(?P<id>[^/]+)/runs/(?P<run>[^/]+)/steps", self._steps),
                (r"files", self._files),
                (r"files/(?P<id>[^/]+)", self._file),
                (r"files/(?P<id>[^/]+)/content", self._file_content),
                (r"vector_stores", self._vector_stores),
                (r"vector_stores/(?P<id>[^/]+)", self._vector_store),
                (r"vector_stores/(?P<id>[^/]+)/files", self._vector_store_files),
                (r"vector_stores/(?P<id>[^/]+)/files/(?P<file>[^/]+)/content", self._parsed),
            )
        ]
        self.app = Starlette(
            routes=[Route(self.prefix + "/{path:path}", self._dispatch, methods=["GET"])]
        )

    @property
    def base_path(self) -> str:
        return self.prefix

    # -- the edge: auth, api-version, rate limit, injected failures ---------------------------
    def _authorized(self, request: Request) -> bool:
        if self.api_version:
            return request.headers.get("api-key") == self.api_key
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    async def _dispatch(self, request: Request) -> Response:
        if self.bucket is not None:
            wait = self.bucket.take()
            if wait > 0:
                self.stats.throttled += 1
                response = _error(429, "Rate limit reached for requests.", "requests")
                response.headers["retry-after"] = str(math.ceil(wait))
                response.headers["retry-after-ms"] = str(math.ceil(wait * 1000))
                return response
        if not self._authorized(request):
            return _error(401, "Incorrect API key provided.")
        if self.api_version and request.query_params.get("api-version") != self.api_version:
            return _error(404, "Resource not found: unsupported or missing api-version.")
        with self._lock:
            self._count += 1
            count = self._count
        if self.fail_every and count % self.fail_every == 0:
            self.stats.failed += 1
            return _error(503, "The server is overloaded.", "server_error")
        path = request.path_params["path"].strip("/")
        for pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match:
                self.stats.served += 1
                return handler(request, **match.groupdict())
        return _error(404, f"Invalid URL (GET {request.url.path})")

    # -- handlers ------------------------------------------------------------------------------
    def _find(self, objects: list[Obj], object_id: str, kind: str) -> Response:
        for obj in objects:
            if obj["id"] == object_id:
                return JSONResponse(obj)
        return _error(404, f"No {kind} found with id '{object_id}'.")

    def _assistants(self, request: Request) -> Response:
        return _page(self.data.assistants, request)

    def _assistant(self, request: Request, id: str) -> Response:
        return self._find(self.data.assistants, id, "assistant")

    def _threads(self, request: Request) -> Response:
        if not self.list_threads:
            return _error(404, "Invalid URL (GET /v1/threads)")
        return _page(list(self.data.threads.values()), request)

    def _thread(self, request: Request, id: str) -> Response:
        thread = self.data.threads.get(id)
        return JSONResponse(thread) if thread else _error(404, f"No thread found with id '{id}'.")

    def _messages(self, request: Request, id: str) -> Response:
        if id not in self.data.threads:
            return _error(404, f"No thread found with id '{id}'.")
        return _page(self.data.messages.get(id, []), request)

    def _runs(self, request: Request, id: str) -> Response:
        if id not in self.data.threads:
            return _error(404, f"No thread found with id '{id}'.")
        return _page(self.data.runs.get(id, []), request)

    def _steps(self, request: Request, id: str, run: str) -> Response:
        if not any(r["id"] == run for r in self.data.runs.get(id, [])):
            return _error(404, f"No run found with id '{run}'.")
        return _page(self.data.steps.get(run, []), request)

    def _files(self, request: Request) -> Response:
        return _page(self.data.files, request)

    def _file(self, request: Request, id: str) -> Response:
        return self._find(self.data.files, id, "file")

    def _file_content(self, request: Request, id: str) -> Response:
        file = next((f for f in self.data.files if f["id"] == id), None)
        if file is None:
            return _error(404, f"No such File object: {id}")
        if file.get("purpose") in REFUSED_PURPOSES:
            return _error(400, f"Not allowed to download files of purpose: {file['purpose']}")
        body = self.data.file_bytes.get(id)
        if body is None:
            return _error(404, f"No content found for file {id}")
        return Response(body, media_type="application/octet-stream")

    def _vector_stores(self, request: Request) -> Response:
        return _page(self.data.vector_stores, request)

    def _vector_store(self, request: Request, id: str) -> Response:
        return self._find(self.data.vector_stores, id, "vector store")

    def _vector_store_files(self, request: Request, id: str) -> Response:
        if not any(v["id"] == id for v in self.data.vector_stores):
            return _error(404, f"No vector store found with id '{id}'.")
        return _page(self.data.vector_store_files.get(id, []), request)

    def _parsed(self, request: Request, id: str, file: str) -> Response:
        members = self.data.vector_store_files.get(id, [])
        if not any(f["id"] == file for f in members) or file not in self.data.file_text:
            return _error(404, f"No file found with id '{file}' in vector store '{id}'.")
        return JSONResponse(
            {
                "object": "vector_store.file_content.page",
                "data": [{"type": "text", "text": self.data.file_text[file]}],
                "has_more": False,
                "next_page": None,
            }
        )
