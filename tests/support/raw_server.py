"""A raw HTTP upstream for client tests: a TCP (or TLS) server on 127.0.0.1 whose script, written
by the test, plays each connection byte by byte, including what no well-behaved server does on
purpose (closing mid-answer, pausing between events, closing a kept-alive connection)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import trustme

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A TCP server on 127.0.0.1 that runs ``script`` for each connection it accepts (over TLS
    with ``tls``: then ``connections`` counts completed handshakes)."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._scripts: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> RawServer:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            task = asyncio.current_task()
            assert task is not None
            self._scripts.add(task)
            try:
                await self.script(reader, writer)
            finally:
                writer.close()

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._scripts:  # scripts still running (a relay's open connections)
            task.cancel()
        await asyncio.gather(*self._scripts, return_exceptions=True)

    @property
    def url(self) -> str:
        assert self._server is not None
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"


def chunk(data: bytes) -> bytes:
    """``data`` as one piece of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def tls_server(ca: trustme.CA, *names: str, seen: list[str | None] | None = None) -> ssl.SSLContext:
    """A server context with a certificate from ``ca`` for ``names``; SNI names into ``seen``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    if seen is not None:
        context.sni_callback = lambda _sock, name, _context: seen.append(name)
    return context
