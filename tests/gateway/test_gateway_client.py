"""The gateway's upstream HTTP/1.1 client against real servers on 127.0.0.1.

The scripted model (uvicorn) answers with content-length and chunked bodies; a raw TCP server
whose script the test writes plays what no well-behaved server does on purpose (closing
mid-answer, pausing between events, closing a kept-alive connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
import openai
import orjson
import pytest

from homeport.gateway.client import (
    Pool,
    Response,
    UpstreamConnectError,
    UpstreamDisconnected,
    UpstreamTimeout,
)
from homeport.testing.background import free_port
from homeport.testing.scripted_model import ScriptedModelServer
from tests.gateway.conftest import GatewayFactory

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
CHAT = orjson.dumps(
    {"model": "scripted", "messages": [{"role": "user", "content": "Say hello."}], "stream": True}
)
JSON = b"content-type: application/json\r\n"


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def pool_for(url: str, **kwargs: Any) -> Pool:
    options: dict[str, Any] = {"max_connections": 8, "connect_timeout": 5, "read_timeout": 30}
    return Pool(url, **{**options, **kwargs})


async def read_all(response: Response) -> bytes:
    try:
        return b"".join([chunk async for chunk in response])
    finally:
        response.release()


class RawServer:
    """A TCP server on 127.0.0.1 that runs ``script`` for each connection it accepts."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.script(reader, writer)
            finally:
                writer.close()

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def request_head(reader: asyncio.StreamReader) -> bytes:
    """One request's head (a raw server's requests carry no body)."""
    return await reader.readuntil(b"\r\n\r\n")


def test_content_length_answers_reuse_one_connection() -> None:
    async def test() -> None:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                try:
                    head = await request_head(reader)
                except asyncio.IncompleteReadError:
                    return
                body = head.split(b"\r\n", 1)[0]
                writer.write(b"HTTP/1.1 200 OK\r\n%scontent-length: %d\r\n\r\n" % (JSON, len(body)))
                writer.write(body)

        async with RawServer(script) as server:
            pool = pool_for(server.url)
            answers = []
            for n in range(3):
                response = await pool.request("GET", f"/v1/models/{n}", b"", b"")
                assert response.status == 200
                assert response.header(b"content-type") == b"application/json"
                answers.append(await read_all(response))
            await pool.close()
        assert answers == [f"GET /v1/models/{n} HTTP/1.1".encode() for n in range(3)]
        assert server.connections == 1

    run(test)


def test_scripted_model_streams_chunked_events_and_answers_json() -> None:
    async def test() -> None:
        pool = pool_for(model.base_url)
        headers = b"content-type: application/json\r\n"
        response = await pool.request("POST", "/v1/chat/completions", headers, CHAT)
        assert response.status == 200
        assert response.header(b"transfer-encoding") == b"chunked"
        events = (await read_all(response)).split(b"\n\n")
        assert events[0].startswith(b"data: {")
        assert b"data: [DONE]" in events
        response = await pool.request("GET", "/v1/models", b"", b"")
        assert orjson.loads(await read_all(response))["object"] == "list"
        await pool.close()

    with ScriptedModelServer() as model:
        run(test)


def test_events_are_handed_over_as_they_arrive() -> None:
    async def test() -> None:
        release = asyncio.Event()

        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await request_head(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            writer.write(chunk(b"data: first\n\n"))
            await release.wait()  # the second event is written only once the first was read
            writer.write(chunk(b"data: second\n\n") + chunk(b""))

        async with RawServer(script) as server:
            pool = pool_for(server.url)
            response = await pool.request("GET", "/v1/events", b"", b"")
            chunks = aiter(response)
            assert await anext(chunks) == b"data: first\n\n"
            release.set()
            assert await read_all(response) == b"data: second\n\n"
            await pool.close()

    run(test)


def test_upstream_closing_mid_answer_is_an_error_and_the_connection_is_dropped() -> None:
    async def test() -> None:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await request_head(reader)
            writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"partial":')
            await writer.drain()

        async with RawServer(script) as server:
            pool = pool_for(server.url)
            response = await pool.request("GET", "/v1/models", b"", b"")
            with pytest.raises(UpstreamDisconnected):
                await read_all(response)
            response = await pool.request("GET", "/v1/models", b"", b"")  # a new connection
            assert response.status == 200
            response.release()
            assert server.connections == 2
            await pool.close()

    run(test)


def test_a_body_without_length_ends_when_the_upstream_closes() -> None:
    async def test() -> None:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await request_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")

        async with RawServer(script) as server:
            pool = pool_for(server.url)
            response = await pool.request("GET", "/v1/models", b"", b"")
            assert await read_all(response) == b"all of it"
            await pool.close()

    run(test)


def test_an_idle_connection_the_upstream_closed_is_replaced_for_idempotent_requests() -> None:
    async def test() -> None:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await request_head(reader)  # answer once as if keeping alive, then hang up
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
            await reader.read(1)  # the next request arrives on a closed connection

        async with RawServer(script) as server:
            pool = pool_for(server.url)
            for _ in range(3):
                response = await pool.request("GET", "/v1/models", b"", b"")
                assert await read_all(response) == b"ok"
            await pool.close()
        assert server.connections == 3

    run(test)


def test_the_connection_limit_queues_requests() -> None:
    async def test() -> None:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                try:
                    await request_head(reader)
                except asyncio.IncompleteReadError:
                    return
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

        async with RawServer(script) as server:
            pool = pool_for(server.url, max_connections=1)

            async def one() -> bytes:
                return await read_all(await pool.request("GET", "/v1/models", b"", b""))

            assert await asyncio.gather(*(one() for _ in range(5))) == [b"ok"] * 5
            await pool.close()
        assert server.connections == 1

    run(test)


def test_head_answers_have_no_body() -> None:
    async def test() -> None:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await request_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n")
            await reader.read(1)

        async with RawServer(script) as server:
            pool = pool_for(server.url)
            response = await pool.request("HEAD", "/v1/models", b"", b"")
            assert response.header(b"content-length") == b"50"
            assert await read_all(response) == b""
            await pool.close()

    run(test)


def test_refused_connection_and_silent_upstream_raise() -> None:
    async def test() -> None:
        with pytest.raises(UpstreamConnectError, match="cannot connect"):
            await pool_for(f"http://127.0.0.1:{free_port()}/v1").request("GET", "/v1", b"", b"")

        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await request_head(reader)
            await reader.read(1)  # never answers

        async with RawServer(script) as server:
            pool = pool_for(server.url, read_timeout=0.2)
            with pytest.raises(UpstreamTimeout):
                await pool.request("GET", "/v1/models", b"", b"")
            await pool.close()

    run(test)


def test_gateway_answers_502_when_the_upstream_refuses(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(managed={"base_url": f"http://127.0.0.1:{free_port()}/v1"})
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().models.list()
    assert caught.value.status_code == 502
    assert caught.value.response.headers["homeport-upstream"] == "managed"
    assert caught.value.code == "upstream_unavailable"
    assert "UpstreamConnectError" in caught.value.message


def test_gateway_breaks_off_when_the_upstream_does(start_gateway: GatewayFactory) -> None:
    async def test() -> None:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await request_head(reader)
            writer.write(b'HTTP/1.1 200 OK\r\n%scontent-length: 100\r\n\r\n{"partial":' % JSON)
            await writer.drain()

        async with RawServer(script) as server:
            gateway = start_gateway(managed={"base_url": server.url})
            async with httpx.AsyncClient(base_url=gateway.base_url) as client:
                with pytest.raises(httpx.RemoteProtocolError):
                    await client.get("/models")

    run(test)
