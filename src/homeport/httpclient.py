"""homeport's HTTP/1.1 client for its upstreams: asyncio protocols and httptools.

One :class:`Pool` per upstream keeps idle keep-alive connections (at most ``max_connections``
open; further requests wait for one). A request is written in one piece; its answer's body is
handed over as it arrives, what arrived together in one piece (chunked and content-length
bodies are decoded, a body without either ends when the upstream ends the connection in order:
a FIN, over TLS a close_notify; a reset, or a bare TCP close under TLS, which could be a
truncation, is a break).
Waiting longer than ``read_timeout`` for the next piece (found by a sweep a second, so up to a
second later), failing to connect within ``connect_timeout``, or losing the connection
mid-answer raise an :class:`UpstreamError`. A reused connection the upstream closed before
answering is retried once on a new one for idempotent methods (the request was not taken).

The gateway's sides and the engine's OpenAI-compatible provider use it: general-purpose clients
spent more of the proxy's CPU per request than the proxying itself, and a measurable share of a
run's (see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from typing import Protocol, cast
from urllib.parse import urlsplit

import httptools

from homeport.tls import ClientTls

_READ_PAUSE_BYTES = 1 << 20  # buffered but not yet consumed: stop reading from the upstream
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_WITHOUT_BODY = frozenset({"GET", "HEAD", "OPTIONS", "CONNECT", "TRACE"})


class UpstreamError(Exception):
    """The upstream did not answer, or broke off mid-answer."""


class UpstreamConnectError(UpstreamError):
    """No connection to the upstream (refused, unresolvable, TLS failed)."""


class UpstreamTimeout(UpstreamError, TimeoutError):
    """The upstream took longer than the timeout to connect or to send the next piece."""


class UpstreamDisconnected(UpstreamError):
    """The upstream closed the connection before its answer was whole."""


class UpstreamProtocolError(UpstreamError):
    """The upstream's answer is not valid HTTP/1.1."""


class _TlsTransport(Protocol):
    """The TLS transports' read flow control (asyncio's and uvloop's; not in the ABC)."""

    def set_read_buffer_limits(self, high: int | None = None, low: int | None = None) -> None: ...


class Response:
    """An answer's status and headers; iterate it for the body's chunks (or ``read()`` it
    whole), then ``release()``."""

    __slots__ = ("_conn", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], conn: _Connection) -> None:
        self.status = status
        self.headers = headers  # as the upstream sent them (names in their own case)
        self._conn = conn

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header (``name`` in lower case)."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def ended(self) -> bool:
        """The whole body has arrived and been read: the chunk just read was the last."""
        return self._conn.drained

    def __aiter__(self) -> Response:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._conn.next_chunk()
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def read(self) -> bytes:
        """The rest of the body, whole."""
        return b"".join([chunk async for chunk in self])

    def release(self) -> None:
        """Give the connection back for reuse when the answer was read whole, else close it."""
        self._conn.finish()


class _Connection(asyncio.Protocol):
    """One connection to the upstream; one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._loop = pool.loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.counted = True  # counts against the pool's limit until forgotten
        self.idle_since = 0.0
        self.waiting_since = 0.0  # loop time it started waiting for the upstream
        self.answered = False  # any byte of the current answer arrived
        self._clean_end = False  # the upstream ended the connection in order (see eof_received)
        self._headers: list[tuple[bytes, bytes]] = []
        self._headers_done = False
        self._complete = False
        self._head = False  # the request was HEAD: its answer has no body, whatever it says
        self._keep_alive = False
        self._informational = False  # a 1xx answer, before the real one
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamProtocolError(f"invalid answer: {exc}"))
            self.close()

    def eof_received(self) -> None:
        """The upstream's end of the stream: a TCP FIN, or over TLS a close_notify.

        Under uvloop's TLS a bare TCP close never gets here; asyncio's calls this for both, with
        the TLS layer's input drained first: after a close_notify a read finds the end, after a
        bare close it would wait for more.
        """
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport else None
        if ssl_object is None:
            self._clean_end = True
            return
        try:
            self._clean_end = ssl_object.read(1) == b""
        except ssl.SSLZeroReturnError:  # close_notify, after ours went out
            self._clean_end = True
        except ssl.SSLError:
            self._clean_end = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool.lost(self)
        if self._complete:
            return
        if self._headers_done and self._ends_at_close() and self._clean_end:
            self._complete = True
            self._wake()
            return
        if exc is not None:
            reason = f"the upstream connection broke: {exc}"
        elif self._pool.tls is not None and not self._clean_end:
            reason = "the upstream closed the TLS connection without close_notify"
        else:
            reason = "the upstream closed the connection"
        self._fail(UpstreamDisconnected(f"{reason} before the answer was whole"))

    # ------------------------------------------------------------------ httptools

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._parser.get_status_code() < 200:
            self._informational = True
            self._headers = []
            return
        self._headers_done = True
        self._keep_alive = self._parser.should_keep_alive()  # not known after the message
        if self._head:
            self._complete = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _READ_PAUSE_BYTES and not self._paused and self.transport:
            self._paused = True
            if self._pool.tls is not None:
                # uvloop's TLS layer reads on while the protocol is paused, and drops what it
                # holds (close_notify included) when the TCP close comes meanwhile. With no
                # read buffer it stops at once, and reads on only once it has handed all over.
                cast(_TlsTransport, self.transport).set_read_buffer_limits(0)
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._complete = True
        self._wake()

    # ------------------------------------------------------------------ the request

    def send(self, request: bytes, head: bool) -> None:
        self._headers = []
        self._headers_done = self._complete = self.answered = False
        self._head = head
        if self.closed:  # lost since it connected (a TLS 1.3 peer refusing our certificate)
            raise self._error or UpstreamDisconnected("the upstream closed the connection")
        self._error = None
        assert self.transport is not None
        self.transport.write(request)

    async def answer(self) -> Response:
        while not self._headers_done:
            await self._wait()
        return Response(self._parser.get_status_code(), self._headers, self)

    async def next_chunk(self) -> bytes:
        """What arrived of the body since the last call, in one piece (a reader writes it on in
        one go); b"" at its end."""
        while not self._chunks:
            if self._complete:
                return b""
            await self._wait()
        chunks = self._chunks
        chunk = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._paused and self.transport:  # all it held is handed over
            self._paused = False
            self.transport.resume_reading()  # a TLS layer hands over what it holds (scheduled)
            if self._pool.tls is not None:
                self._loop.call_soon(self._restore_read_buffer)  # after that
        return chunk

    @property
    def drained(self) -> bool:
        return self._complete and not self._chunks

    def _restore_read_buffer(self) -> None:
        """The TLS layer's default read buffer, not 0: a partial record must not stop it."""
        transport = self.transport
        if not self._paused and transport is not None and not transport.is_closing():
            cast(_TlsTransport, transport).set_read_buffer_limits()

    def finish(self) -> None:
        reusable = self._complete and not self._chunks and not self.closed and not self._head
        if reusable and self._keep_alive:
            self._pool.put_back(self)
        else:
            self.close()
            self._pool.forget(self)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        waiter = self._waiter = self._loop.create_future()
        self.waiting_since = self._loop.time()
        self._pool.waiting.add(self)
        self._pool.watch()
        try:
            await waiter
        finally:
            self._pool.waiting.discard(self)
            self._waiter = None
        if self._error is not None:
            raise self._error

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    def time_out(self) -> None:
        seconds = self._pool.read_timeout
        self._fail(UpstreamTimeout(f"no answer from the upstream within {seconds:g} s"))
        self.close()

    def _ends_at_close(self) -> bool:
        """An answer with neither a length nor chunks: its body is whatever came before close."""
        for key, value in self._headers:
            name = key.lower()
            if name == b"content-length" or (
                name == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                return False
        return True


class Pool:
    """Keep-alive connections to one origin (``scheme://host:port``)."""

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int,
        connect_timeout: float,
        read_timeout: float,
        keepalive_seconds: float = 60.0,
        tls: ClientTls | None = None,
    ) -> None:
        """``tls`` verifies an https origin (default: the system's trust store); each new
        connection takes its context in force (renewed files, see ``homeport.tls``)."""
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        default = url.port is None or url.port == (443 if url.scheme == "https" else 80)
        netloc = url.hostname if ":" not in url.hostname else f"[{url.hostname}]"
        self.host_header = netloc if default else f"{netloc}:{url.port}"
        if tls is not None and url.scheme != "https":
            raise ValueError(f"a TLS context for a plain http URL: {base_url!r}")
        https = url.scheme == "https"
        self.tls: ClientTls | None = (tls or ClientTls()) if https else None
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_seconds = keepalive_seconds
        self._idle: list[_Connection] = []
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.waiting: set[_Connection] = set()  # connections waiting for the upstream
        self._watcher: asyncio.Task[None] | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    async def request(self, method: str, target: str, headers: bytes, body: bytes) -> Response:
        """Send ``method target`` with ``headers`` (``name: value\\r\\n`` lines, without Host
        and Content-Length) and ``body``; return once the answer's headers are in."""
        head = f"{method} {target} HTTP/1.1\r\nhost: {self.host_header}\r\n".encode("latin-1")
        if body or method not in _WITHOUT_BODY:
            head += b"content-length: %d\r\n" % len(body)
        message = b"".join((head, headers, b"\r\n", body))
        conn, reused = await self._take()
        try:
            conn.send(message, method == "HEAD")
            return await conn.answer()
        except UpstreamDisconnected:
            self.forget(conn)
            if not (reused and not conn.answered and method in _IDEMPOTENT):
                raise
        except BaseException:  # a timeout, a bad answer, or the caller gave up: not reusable
            conn.close()
            self.forget(conn)
            raise
        conn = await self._connect()  # the upstream had closed the idle connection: once more
        try:
            conn.send(message, method == "HEAD")
            return await conn.answer()
        except BaseException:
            conn.close()
            self.forget(conn)
            raise

    def watch(self) -> None:
        """Make sure waits longer than ``read_timeout`` are ended (started on first use)."""
        if self._watcher is None:
            self._watcher = self.loop.create_task(self._sweep_timeouts(), name="upstream-timeouts")

    async def _sweep_timeouts(self) -> None:
        """One sweep a second (not a timer per wait): a connection waiting longer than
        ``read_timeout`` fails with :class:`UpstreamTimeout`."""
        pause = min(1.0, self.read_timeout / 4)
        while True:
            await asyncio.sleep(pause)
            limit = self.loop.time() - self.read_timeout
            for conn in [c for c in self.waiting if c.waiting_since <= limit]:
                conn.time_out()

    async def _take(self) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_seconds:
                return conn, True
            conn.close()
            self.forget(conn)
        while self._open >= self.max_connections:
            waiter = self.loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, then cancelled: the turn goes to the next
                waiter.cancel()
                raise
            if self._idle:
                return await self._take()
        return await self._connect(), False

    async def _connect(self) -> _Connection:
        self._open += 1
        conn = _Connection(self)
        try:
            await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: conn,
                    self.host,
                    self.port,
                    ssl=self.tls.current() if self.tls else None,
                    server_hostname=self.host if self.tls else None,
                ),
                self.connect_timeout,
            )
        except TimeoutError:
            self.forget(conn)
            raise UpstreamTimeout(
                f"no connection to {self.host}:{self.port} within {self.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            self.forget(conn)
            raise UpstreamConnectError(
                f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        except BaseException:
            self.forget(conn)
            raise
        return conn

    def put_back(self, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        self._idle.append(conn)
        self._wake_one()

    def lost(self, conn: _Connection) -> None:
        """``conn`` was closed (by either end): out of the pool and the count."""
        if conn in self._idle:
            self._idle.remove(conn)
        self.forget(conn)

    def forget(self, conn: _Connection) -> None:
        """``conn`` is closed and no longer counts against the limit (once per connection)."""
        if conn.counted:
            conn.counted = False
            self._open -= 1
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        for conn in self._idle:
            conn.close()
        self._idle.clear()
