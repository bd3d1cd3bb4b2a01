"""The gateway's HTTP/1.1 server, on 127.0.0.1, with a handler written for each test.

Clients are httpx (keep-alive, streaming) and raw sockets (pipelining, 100-continue, bad input).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx

from homeport.gateway.http_server import Connection, HttpServer, Request

Handler = Callable[[Request, Connection], Coroutine[Any, Any, None]]


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[HttpServer, str]]:
    server = HttpServer(handler)
    await server.start("127.0.0.1", 0)
    try:
        yield server, f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop(5)


async def echo(request: Request, send: Connection) -> None:
    """Answers with what it was asked, as JSON-ish text with a length."""
    body = b"%s %s ?%s %s" % (
        request.method.encode(),
        request.path.encode(),
        request.query.encode(),
        request.body,
    )
    send.start(200, [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))])
    await send.body(body, more=False)


async def raw_exchange(url: str, data: bytes, until: bytes) -> bytes:
    """Write ``data`` on one connection and read until ``until`` has been seen."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    received = b""
    while until not in received:
        piece = await reader.read(65536)
        if not piece:
            break
        received += piece
    writer.close()
    return received


def test_requests_are_decoded_and_connections_kept_alive() -> None:
    seen: list[int] = []

    async def handler(request: Request, send: Connection) -> None:
        seen.append(id(send))
        await echo(request, send)

    async def test() -> None:
        async with serving(handler) as (_, url), httpx.AsyncClient(base_url=url) as client:
            first = await client.post("/v1/a%20b", params={"q": "x y"}, content=b"body")
            second = await client.get("/v1/again")
        assert first.text == "POST /v1/a b ?q=x+y body"
        assert first.headers["date"]
        assert second.text == "GET /v1/again ? "
        assert len(set(seen)) == 1  # one connection for both

    run(test)


def test_an_answer_without_length_is_chunked_and_streamed_piece_by_piece() -> None:
    release = asyncio.Event()

    async def handler(request: Request, send: Connection) -> None:
        send.start(200, [(b"content-type", b"text/event-stream")])
        await send.body(b"data: first\n\n")
        await release.wait()  # sent only after the client has read the first event
        await send.body(b"data: second\n\n")
        await send.body(b"", more=False)

    async def test() -> None:
        async with (
            serving(handler) as (_, url),
            httpx.AsyncClient(base_url=url) as client,
            client.stream("GET", "/v1/events") as response,
        ):
            assert response.headers["transfer-encoding"] == "chunked"
            pieces = response.aiter_raw()
            assert await anext(pieces) == b"data: first\n\n"
            release.set()
            assert [p async for p in pieces] == [b"data: second\n\n"]

    run(test)


def test_pipelined_requests_are_answered_in_order() -> None:
    async def test() -> None:
        async with serving(echo) as (_, url):
            answer = await raw_exchange(
                url,
                b"GET /one HTTP/1.1\r\nhost: x\r\n\r\nGET /two HTTP/1.1\r\nhost: x\r\n\r\n",
                b"GET /two",
            )
        assert answer.index(b"GET /one") < answer.index(b"GET /two")
        assert answer.count(b"HTTP/1.1 200 OK") == 2

    run(test)


def test_an_upgrade_request_is_served_as_plain_http() -> None:
    async def test() -> None:
        async with serving(echo) as (_, url):
            host, port = url.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                b"GET /one HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n"
            )
            first = await reader.readuntil(b"GET /one ? ")
            writer.write(b"GET /two HTTP/1.1\r\nhost: x\r\n\r\n")
            second = await reader.readuntil(b"GET /two ? ")
            writer.close()
        assert first.startswith(b"HTTP/1.1 200 OK") and second.startswith(b"HTTP/1.1 200 OK")

    run(test)


def test_chunked_request_bodies_and_expect_continue() -> None:
    async def test() -> None:
        async with serving(echo) as (_, url):
            answer = await raw_exchange(
                url,
                b"POST /up HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
                b"transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                b"abcde",
            )
        assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
        assert answer.endswith(b"POST /up ? abcde")

    run(test)


def test_head_has_no_body_and_close_is_honoured() -> None:
    async def test() -> None:
        async with serving(echo) as (_, url):
            head = await raw_exchange(url, b"HEAD /x HTTP/1.1\r\nhost: x\r\n\r\n", b"\r\n\r\n")
            closed = await raw_exchange(
                url, b"GET /x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", b"never"
            )
        assert head.endswith(b"\r\n\r\n") and b"content-length: 10" in head
        assert b"connection: close" in closed and closed.endswith(b"GET /x ? ")  # then EOF

    run(test)


def test_a_failing_handler_gives_500_and_bad_input_400() -> None:
    async def broken(request: Request, send: Connection) -> None:
        raise RuntimeError("boom")

    async def test() -> None:
        async with serving(broken) as (_, url):
            failed = await raw_exchange(url, b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n", b"Error")
            bad = await raw_exchange(url, b"NOT HTTP AT ALL\r\n\r\n", b"request")
        assert failed.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        assert bad.startswith(b"HTTP/1.1 400 Bad Request\r\n")

    run(test)


def test_idle_connections_are_closed() -> None:
    async def test() -> None:
        server = HttpServer(echo, keep_alive_seconds=0.1)
        await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n")
        answer = await reader.readuntil(b"GET /x ? ")
        assert await reader.read() == b""  # closed by the server once idle
        writer.close()
        await server.stop(5)
        assert answer.startswith(b"HTTP/1.1 200 OK")

    run(test)


def test_stop_lets_an_answer_in_progress_finish() -> None:
    async def test() -> None:
        started = asyncio.Event()
        release = asyncio.Event()

        async def slow(request: Request, send: Connection) -> None:
            started.set()
            await release.wait()
            await echo(request, send)

        server = HttpServer(slow)
        await server.start("127.0.0.1", 0)
        async with httpx.AsyncClient() as client:
            answer = asyncio.create_task(client.get(f"http://127.0.0.1:{server.port}/slow"))
            await started.wait()
            stopping = asyncio.create_task(server.stop(30))
            release.set()
            await stopping
            assert (await answer).text == "GET /slow ? "

    run(test)
