"""The gateway's HTTP/1.1 server: asyncio protocols and httptools, no ASGI layer.

Each connection parses requests with httptools and hands each whole request (the body read
first, as the proxy needs it) to the handler, one at a time in arrival order (pipelined requests
wait their turn). The handler answers through the connection: ``start`` then ``body`` until
``more=False``. The status line and headers go out with the first body piece, in one write; an
answer without ``content-length`` is sent chunked (none for HEAD, 1xx, 204 and 304), one
without ``date`` gets one. A client
that goes away turns further writes into no-ops; a handler that fails before answering gives a
500, one that fails mid-answer closes the connection. Idle keep-alive connections close after
``keep_alive_seconds``; a slow reader pauses the writer (``drain``).

Made for the proxy's hot path: an ASGI server's per-request messages and extra writes cost more
CPU per request than the proxying (see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import cast
from urllib.parse import unquote

import httptools

from homeport.config import KEEP_ALIVE_SECONDS

log = logging.getLogger("homeport.gateway.http")

_MAX_PIPELINED = 16  # requests waiting on one connection before it stops reading
_STATUS_LINES = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
_NO_BODY_STATUS = frozenset({204, 304})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 20\r\nconnection: close\r\n\r\nInvalid HTTP request"
)
_SERVER_ERROR = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 21\r\nconnection: close\r\n\r\nInternal Server Error"
)


@dataclass(slots=True)
class Request:
    """One whole request: ``path`` percent-decoded, ``query`` as sent, header names lower case."""

    method: str
    path: str
    query: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


Handler = Callable[[Request, "Connection"], Awaitable[None]]


class _Date:
    """The ``date`` header's value, made at most once a second."""

    second = 0
    value = b""

    @classmethod
    def now(cls) -> bytes:
        second = int(time.time())
        if second != cls.second:
            cls.second, cls.value = second, formatdate(second, usegmt=True).encode()
        return cls.value


class Connection(asyncio.Protocol):
    """One client connection; the handler answers the current request through it."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._loop = server.loop
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._keep_alive = True
        self._pending: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None
        self.idle_since: float | None = None  # loop time since it waits for a request
        self._read_paused = False
        self._drained: asyncio.Future[None] | None = None
        self.closed = False
        # The answer being written.
        self._head: bytes | None = None  # status line and headers, not yet written
        self._chunked = False
        self._bodiless = False
        self._closing = False  # close once this answer is out
        self._done = True
        self._wrote = False  # anything of this answer went out

    # ------------------------------------------------------------------ asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._server.connections.add(self)
        self.idle_since = self._loop.time()

    def data_received(self, data: bytes) -> None:
        self.idle_since = None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # served as a plain request (the gateway speaks no other protocol)
        except httptools.HttpParserError:
            if self._task is None and self._transport is not None:
                self._transport.write(_BAD_REQUEST)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._server.connections.discard(self)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._drained = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    # ------------------------------------------------------------------ httptools

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()
        if self._transport is not None and (b"expect", b"100-continue") in self._headers:
            self._transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        url = httptools.parse_url(self._url)
        path = url.path.decode("latin-1")
        request = Request(
            self._parser.get_method().decode("latin-1"),
            unquote(path) if "%" in path else path,
            url.query.decode("latin-1") if url.query else "",
            self._headers,
            b"".join(self._body),
            self._keep_alive,
        )
        if self._task is None:
            self._task = self._loop.create_task(self._serve(request))
            return
        self._pending.append(request)
        if len(self._pending) >= _MAX_PIPELINED and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()

    # ------------------------------------------------------------------ answering

    async def _serve(self, request: Request) -> None:
        while True:
            self._head, self._done, self._wrote = None, False, False
            self._bodiless = request.method == "HEAD"
            self._closing = not request.keep_alive
            try:
                await self._server.handler(request, self)
            except Exception:
                log.exception("the gateway failed on %s %s", request.method, request.path)
                if not self._wrote and self._transport is not None:
                    self._transport.write(_SERVER_ERROR)
                self.close()
            if not self._done:
                self.close()  # an answer cut short
            if self.closed or self._closing:
                self.close()
                self._task = None
                return
            if not self._pending:
                self._task = None
                self.idle_since = self._loop.time()
                return
            request = self._pending.popleft()
            if self._read_paused and self._transport is not None:
                self._read_paused = False
                self._transport.resume_reading()

    def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        """The answer's status and headers (sent with its first body piece)."""
        lines = [_STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status]
        framed = self._bodiless or status in _NO_BODY_STATUS or status < 200
        close_sent = dated = False
        for name, value in headers:
            lines += (name, b": ", value, b"\r\n")
            lower = name.lower()
            if lower == b"content-length":
                framed = True
            elif lower == b"date":
                dated = True
            elif lower == b"connection" and b"close" in value.lower():
                close_sent = self._closing = True
        if not dated:
            lines += (b"date: ", _Date.now(), b"\r\n")
        self._chunked = not framed
        if self._chunked:
            lines.append(b"transfer-encoding: chunked\r\n")
        if self._closing and not close_sent:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        self._head = b"".join(lines)

    async def body(self, data: bytes, more: bool = True) -> None:
        """One piece of the answer's body; ``more=False`` ends it."""
        if self.closed or self._transport is None:
            return
        if self._bodiless:
            data = b""
        elif self._chunked:
            if data:
                data = b"%x\r\n%b\r\n" % (len(data), data)
            if not more:
                data += b"0\r\n\r\n"
        if self._head is not None:
            data, self._head = self._head + data, None
        if data:
            self._transport.write(data)
            self._wrote = True
        if not more:
            self._done = True
        if self._drained is not None:
            await self._drained

    async def reply(
        self,
        status: int,
        body: bytes,
        content_type: bytes = b"application/json",
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        """A whole answer in one piece: status, ``content-type``, length and ``headers``."""
        length = (b"content-length", str(len(body)).encode())
        self.start(status, [(b"content-type", content_type), length, *headers])
        await self.body(body, more=False)

    def close(self) -> None:
        self.closed = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    @property
    def busy(self) -> bool:
        return self._task is not None


class HttpServer:
    def __init__(self, handler: Handler, keep_alive_seconds: float = KEEP_ALIVE_SECONDS) -> None:
        self.handler = handler
        self.keep_alive_seconds = keep_alive_seconds
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    async def start(self, host: str, port: int, sock: socket.socket | None = None) -> None:
        """Listen on ``host:port``, or on an already bound socket."""
        if sock is not None:
            self._server = await self.loop.create_server(
                lambda: Connection(self), sock=sock, backlog=2048
            )
        else:
            self._server = await self.loop.create_server(
                lambda: Connection(self), host, port, backlog=2048, reuse_address=True
            )
        self._sweeper = self.loop.create_task(self._close_idle(), name="http-idle")

    async def _close_idle(self) -> None:
        """Close connections idle for ``keep_alive_seconds`` (one sweep a second, not a timer
        per request)."""
        pause = min(1.0, self.keep_alive_seconds / 2)
        while True:
            await asyncio.sleep(pause)
            limit = self.loop.time() - self.keep_alive_seconds
            for conn in list(self.connections):
                if conn.idle_since is not None and conn.idle_since <= limit:
                    conn.close()

    @property
    def port(self) -> int:
        """The port it listens on (when started on port 0)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self, grace_seconds: float) -> None:
        """Stop listening, close idle connections, let answers in progress finish (bounded)."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        deadline = self.loop.time() + grace_seconds
        while True:
            for conn in list(self.connections):
                if not conn.busy:
                    conn.close()
            if not self.connections or self.loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.close()
