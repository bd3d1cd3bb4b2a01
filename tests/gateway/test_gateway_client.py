"""homeport's HTTP/1.1 client (the gateway's upstream client) against real servers on 127.0.0.1.

The scripted model (uvicorn) answers with content-length and chunked bodies; a raw TCP server
(``tests.support.raw_server``) whose script the test writes plays what no well-behaved server
does on purpose (closing mid-answer, pausing between events, closing a kept-alive connection).

Managed upstreams are HTTPS. A throwaway CA (trustme) issues the TLS servers' certificates; the
client trusts it the two ways an operator trusts a private CA: SSL_CERT_FILE, which
``ssl.create_default_context()`` honours, or a side's ``ca_file`` (then with SSL_CERT_FILE
unset). The scripted model is reached through a TLS front (a raw server relaying each decrypted
connection to it), so a test counts TLS connections. TLS tests run under asyncio and uvloop (the
gateway's loop): their TLS layers are separate code. How a TLS answer without a length ends
(with or without close_notify) is played by a blocking ``ssl`` socket server in a thread, which
closes exactly as told.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import orjson
import pytest
import trustme
import uvloop

import homeport.tls
from homeport.gateway.config import SideConfig
from homeport.httpclient import (
    Pool,
    Response,
    UpstreamConnectError,
    UpstreamDisconnected,
    UpstreamError,
    UpstreamTimeout,
)
from homeport.testing.background import free_port
from homeport.testing.scripted_model import ScriptedModelServer
from tests.gateway.conftest import GatewayFactory
from tests.support.raw_server import RawServer, Script, chunk, tls_server

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
        return await response.read()
    finally:
        response.release()


async def request_head(reader: asyncio.StreamReader) -> bytes:
    """One request's head (a raw server's requests carry no body)."""
    return await reader.readuntil(b"\r\n\r\n")


async def each_request(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The heads of a connection's requests, until the client hangs up."""
    while True:
        try:
            yield await request_head(reader)
        except asyncio.IncompleteReadError:
            return


async def answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await request_head(reader)
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


LOOPS = pytest.mark.parametrize("runner", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
Runner = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def trusted(ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's trust store has the test CA (read when a pool is made)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))


@pytest.fixture
def system_roots(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trust store is the system's alone: the test CA is trusted only through ``ca_file``."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def relay_to(url: str) -> Script:
    """A script passing the connection's bytes to and from ``url``'s server, as they come."""
    port = urlsplit(url).port

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(1 << 16):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return script


def test_content_length_answers_reuse_one_connection() -> None:
    async def test() -> None:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async for head in each_request(reader):
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


@LOOPS
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_scripted_model_streams_chunked_events_and_answers_json_on_one_connection(
    runner: Runner, tls: bool, ca: trustme.CA, trusted: None
) -> None:
    async def test() -> None:
        front = RawServer(relay_to(model.base_url), tls_server(ca, "127.0.0.1") if tls else None)
        async with front as server:
            pool = pool_for(server.url)
            response = await pool.request("POST", "/v1/chat/completions", JSON, CHAT)
            assert response.status == 200
            assert response.header(b"transfer-encoding") == b"chunked"
            assert (response.header(b"content-type") or b"").startswith(b"text/event-stream")
            events = (await read_all(response)).split(b"\n\n")
            assert events[0].startswith(b"data: {")
            assert b"data: [DONE]" in events
            response = await pool.request("GET", "/v1/models", b"", b"")
            assert orjson.loads(await read_all(response))["object"] == "list"
            await pool.close()
        assert server.connections == 1

    with ScriptedModelServer() as model:
        runner(test())


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


def test_what_arrives_together_is_handed_over_in_one_piece_that_says_it_ends() -> None:
    """Events the upstream sent in one go come as one piece (the gateway writes them on in one
    write), and the answer tells it has ended with its last piece (the gateway ends its own
    answer in that same write)."""

    async def test() -> None:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await request_head(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
                + chunk(b"data: a\n\n")
                + chunk(b"data: b\n\n")
                + chunk(b"")
            )

        async with RawServer(script) as server:
            pool = pool_for(server.url)
            response = await pool.request("GET", "/v1/events", b"", b"")
            assert not response.ended
            assert await anext(aiter(response)) == b"data: a\n\ndata: b\n\n"
            assert response.ended  # known with the last piece, before asking for another
            assert await read_all(response) == b""
            response.release()
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


@LOOPS
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_an_idle_connection_the_upstream_closed_is_replaced_for_idempotent_requests(
    runner: Runner, tls: bool, ca: trustme.CA, trusted: None
) -> None:
    async def test() -> None:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await request_head(reader)  # answer once as if keeping alive, then hang up
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
            await reader.read(1)  # the next request arrives on a closed connection

        async with RawServer(script, tls_server(ca, "127.0.0.1") if tls else None) as server:
            pool = pool_for(server.url)
            for _ in range(3):
                response = await pool.request("GET", "/v1/models", b"", b"")
                assert await read_all(response) == b"ok"
            await pool.close()
        assert server.connections == 3

    runner(test())


def test_the_connection_limit_queues_requests() -> None:
    async def test() -> None:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async for _ in each_request(reader):
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


def test_a_body_without_length_cut_by_a_reset_is_an_error() -> None:
    async def test() -> None:
        reset = asyncio.Event()

        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await request_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\npart")
            await reset.wait()  # the client has read all there is: nothing is lost in transit
            linger = struct.pack("ii", 1, 0)  # close with RST, not FIN
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            writer.transport.abort()

        async with RawServer(script) as server:
            pool = pool_for(server.url)
            response = await pool.request("GET", "/v1/models", b"", b"")
            chunks = aiter(response)
            assert await anext(chunks) == b"part"
            reset.set()
            with pytest.raises(UpstreamDisconnected, match="connection broke"):
                await read_all(response)
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


@LOOPS
def test_https_sends_the_host_name_for_sni_and_verifies_it(
    runner: Runner, ca: trustme.CA, trusted: None
) -> None:
    seen: list[str | None] = []

    async def test() -> None:
        async with RawServer(answer_ok, tls_server(ca, "localhost", seen=seen)) as server:
            pool = pool_for(server.url.replace("127.0.0.1", "localhost"))
            assert await read_all(await pool.request("GET", "/v1/models", b"", b"")) == b"ok"
            await pool.close()

    runner(test())
    assert seen == ["localhost"]


@LOOPS
def test_https_refuses_an_untrusted_certificate_or_one_for_another_host(
    runner: Runner, ca: trustme.CA, trusted: None
) -> None:
    async def test() -> None:
        for context, reason in (
            (tls_server(trustme.CA(), "127.0.0.1"), "certificate verify failed"),
            (tls_server(ca, "upstream.example"), "IP address mismatch"),
        ):
            async with RawServer(answer_ok, context) as server:
                pool = pool_for(server.url)
                with pytest.raises(UpstreamConnectError, match=reason):
                    await pool.request("GET", "/v1/models", b"", b"")
                await pool.close()
            assert server.connections == 0

    runner(test())


@LOOPS
def test_https_to_a_plain_or_silent_server_fails_to_connect(runner: Runner, trusted: None) -> None:
    async def test() -> None:
        async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)
            writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # never answers the handshake

        async with RawServer(plain) as server:
            pool = pool_for(server.url.replace("http:", "https:"))
            with pytest.raises(UpstreamConnectError):
                await pool.request("GET", "/v1/models", b"", b"")
        async with RawServer(silent) as server:
            pool = pool_for(server.url.replace("http:", "https:"), connect_timeout=0.2)
            with pytest.raises(UpstreamTimeout, match="no connection"):
                await pool.request("GET", "/v1/models", b"", b"")

    runner(test())


@LOOPS
def test_https_large_answers_arrive_whole(runner: Runner, ca: trustme.CA, trusted: None) -> None:
    body = bytes(range(256)) * (16 << 10)  # 4 MiB: reading pauses and resumes over TLS

    async def test() -> None:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async for _ in each_request(reader):
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                for start in range(0, len(body), 1 << 16):
                    writer.write(chunk(body[start : start + (1 << 16)]))
                writer.write(chunk(b""))
                await writer.drain()

        async with RawServer(script, tls_server(ca, "127.0.0.1")) as server:
            pool = pool_for(server.url)
            for _ in range(2):
                response = await pool.request("GET", "/v1/files/file-1/content", b"", b"")
                await asyncio.sleep(0.1)  # the answer piles up: reading pauses
                assert await read_all(response) == body
            await pool.close()
        assert server.connections == 1

    runner(test())


def test_gateway_serves_an_https_upstream(
    start_gateway: GatewayFactory, managed_model: ScriptedModelServer, ca: trustme.CA, trusted: None
) -> None:
    async def test() -> None:
        front = RawServer(relay_to(managed_model.base_url), tls_server(ca, "127.0.0.1"))
        async with front as server:
            gateway = start_gateway(managed={"base_url": server.url})
            client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="sk", max_retries=0)
            stream = await client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "Say hello."}], stream=True
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert text
            raw = await client.models.with_raw_response.list()
            assert raw.headers["homeport-upstream"] == "managed"
            assert raw.parse().data
            await client.close()
        assert server.connections >= 1  # the answers came through the TLS front

    run(test)


def test_gateway_answers_502_when_the_upstream_certificate_is_untrusted(
    start_gateway: GatewayFactory,
) -> None:
    async def test() -> None:
        async with RawServer(answer_ok, tls_server(trustme.CA(), "127.0.0.1")) as server:
            gateway = start_gateway(managed={"base_url": server.url})
            async with httpx.AsyncClient(base_url=gateway.base_url) as client:
                response = await client.get("/models")
        assert response.status_code == 502
        assert response.headers["homeport-upstream"] == "managed"
        error = response.json()["error"]
        assert error["code"] == "upstream_unavailable"
        assert "UpstreamConnectError" in error["message"]

    run(test)


def side_pool(url: str, **tls_files: Path) -> Pool:
    """A pool set up as the gateway sets up a side's (``SideConfig.tls``)."""
    return pool_for(url, tls=SideConfig(base_url=url, **tls_files).tls())


def client_certificate(ca: trustme.CA, directory: Path) -> tuple[Path, Path, Path]:
    """A client certificate from ``ca``: (certificate, key, both in one file)."""
    leaf = ca.issue_cert("gateway.example")
    cert, key, both = (directory / name for name in ("client.pem", "client.key", "both.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(both))
    return cert, key, both


def mtls_server(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server context that requires a client certificate from ``ca``."""
    context = tls_server(ca, *names)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@LOOPS
def test_a_side_trusts_its_ca_file_on_top_of_the_system_roots(
    runner: Runner, ca: trustme.CA, ca_file: Path, system_roots: None
) -> None:
    async def test() -> None:
        async with RawServer(answer_ok, tls_server(ca, "127.0.0.1")) as server:
            pool = side_pool(server.url, ca_file=ca_file)
            assert await read_all(await pool.request("GET", "/v1/models", b"", b"")) == b"ok"
            await pool.close()
            pool = side_pool(server.url)  # the system's roots alone do not know the test CA
            with pytest.raises(UpstreamConnectError, match="certificate verify failed"):
                await pool.request("GET", "/v1/models", b"", b"")
            await pool.close()
        assert server.connections == 1

    runner(test())


@LOOPS
def test_a_ca_file_adds_to_the_default_roots_without_replacing_them(
    runner: Runner, ca: trustme.CA, ca_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = trustme.CA()  # stands for the public roots: the default trust store holds it
    public.cert_pem.write_to_path(str(tmp_path / "roots.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "roots.pem"))

    async def test() -> None:
        for issuer in (public, ca):
            async with RawServer(answer_ok, tls_server(issuer, "127.0.0.1")) as server:
                pool = side_pool(server.url, ca_file=ca_file)
                assert await read_all(await pool.request("GET", "/v1/models", b"", b"")) == b"ok"
                await pool.close()

    runner(test())


@LOOPS
def test_mutual_tls_presents_the_client_certificate(
    runner: Runner, ca: trustme.CA, ca_file: Path, system_roots: None, tmp_path: Path
) -> None:
    cert, key, both = client_certificate(ca, tmp_path)

    async def test() -> None:
        async with RawServer(answer_ok, mtls_server(ca, "127.0.0.1")) as server:
            for files in (
                {"client_cert_file": cert, "client_key_file": key},
                {"client_cert_file": both},
            ):
                pool = side_pool(server.url, ca_file=ca_file, **files)
                assert await read_all(await pool.request("GET", "/v1/models", b"", b"")) == b"ok"
                await pool.close()
            pool = side_pool(server.url, ca_file=ca_file)
            with pytest.raises(UpstreamError):  # TLS 1.3: refused once the request is sent
                await pool.request("GET", "/v1/models", b"", b"")
            await pool.close()
        assert server.connections == 2  # the refused handshake never reached the script

    runner(test())


def test_gateway_trusts_a_side_by_its_ca_file(
    start_gateway: GatewayFactory,
    managed_model: ScriptedModelServer,
    ca: trustme.CA,
    ca_file: Path,
    system_roots: None,
) -> None:
    async def test() -> None:
        front = RawServer(relay_to(managed_model.base_url), tls_server(ca, "127.0.0.1"))
        async with front as server, httpx.AsyncClient() as client:
            trusting = start_gateway(managed={"base_url": server.url, "ca_file": ca_file})
            response = await client.get(trusting.base_url + "/models")
            assert response.status_code == 200
            assert response.json()["data"]
            assert response.headers["homeport-upstream"] == "managed"
            refusing = start_gateway(managed={"base_url": server.url})
            response = await client.get(refusing.base_url + "/models")
            assert response.status_code == 502
            assert "UpstreamConnectError" in response.json()["error"]["message"]

    run(test)


def test_the_shadow_worker_trusts_the_candidates_ca_file(
    start_gateway: GatewayFactory,
    candidate_model: ScriptedModelServer,
    ca: trustme.CA,
    ca_file: Path,
    system_roots: None,
) -> None:
    async def test() -> None:
        front = RawServer(relay_to(candidate_model.base_url), tls_server(ca, "127.0.0.1"))
        async with front as server:
            candidate = {"base_url": server.url, "api_key": "hp-gateway", "ca_file": ca_file}
            gateway = start_gateway(mode="shadow", homeport=candidate)
            client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="sk", max_retries=0)
            answer = await client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "Say hello."}]
            )
            assert (answer.choices[0].message.content or "").startswith("[managed]")
            await client.close()
            await asyncio.to_thread(gateway.stop)  # the worker drains its copy through the front
        [pair] = gateway.pairs()
        assert pair.candidate.error is None
        assert pair.candidate.status == 200
        assert b"[homeport]" in pair.candidate.body
        assert server.connections == 1

    run(test)


def test_the_shadow_workers_refused_tls_files_are_counted_by_the_proxy(
    start_gateway: GatewayFactory, ca: trustme.CA, ca_file: Path, system_roots: None
) -> None:
    """The shadow worker follows its own TLS files; a change it refuses is reported up to the
    proxy, whose ``tls_reloads_total`` counts it (before, only the worker's log said so). The
    candidate closes each connection after one answer, so each copy makes a new one."""

    async def test() -> None:
        async with RawServer(answer_ok, tls_server(ca, "127.0.0.1")) as server:
            candidate = {"base_url": server.url, "api_key": "hp-gateway", "ca_file": ca_file}
            gateway = start_gateway(mode="shadow", homeport=candidate)
            metrics = gateway.gateway.metrics.registry

            def rejected() -> float | None:
                labels = {"side": "homeport", "outcome": "rejected"}
                return metrics.get_sample_value("homeport_gateway_tls_reloads_total", labels)

            client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="sk", max_retries=0)
            ask = {"model": "scripted", "messages": [{"role": "user", "content": "Say hello."}]}
            await client.chat.completions.create(**ask)
            for _ in range(100):  # the first copy, made with the files as they were
                if server.connections == 1:
                    break
                await asyncio.sleep(0.05)
            (ca_file.parent / "renewed.tmp").write_text("not a certificate\n")
            (ca_file.parent / "renewed.tmp").replace(ca_file)
            await asyncio.sleep(homeport.tls.CHECK_SECONDS)  # the worker looks again after it
            await client.chat.completions.create(**ask)
            for _ in range(100):  # the report goes up every 50 ms; the handshake in parallel
                if rejected() == 1 and server.connections == 2:
                    break
                await asyncio.sleep(0.05)
            await client.close()
            assert rejected() == 1
            assert server.connections == 2  # the second copy, with the previous files

    run(test)


def test_a_renewed_client_certificate_is_taken_without_restart(
    start_gateway: GatewayFactory,
    ca: trustme.CA,
    ca_file: Path,
    system_roots: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The upstream now asks for certificates from a new CA: the gateway takes the renewed
    files at its next new connection; files that cannot be used leave the previous in force.
    The upstream closes each connection after one answer, so every request makes a new one."""
    monkeypatch.setattr(homeport.tls, "CHECK_SECONDS", 0.0)  # look at the files every time
    new_ca = trustme.CA()
    cert, key, _ = client_certificate(ca, tmp_path)  # from the CA the upstream no longer takes
    upstream = tls_server(ca, "127.0.0.1")
    new_ca.configure_trust(upstream)
    upstream.verify_mode = ssl.CERT_REQUIRED

    def renew(issuer: trustme.CA, *, key_too: bool = True) -> None:
        """Write the files as cert-manager does: each whole, into place by rename."""
        leaf = issuer.issue_cert("gateway.example")
        leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "new.pem"))
        (tmp_path / "new.pem").replace(cert)
        if key_too:
            leaf.private_key_pem.write_to_path(str(tmp_path / "new.key"))
            (tmp_path / "new.key").replace(key)

    async def test() -> None:
        async with RawServer(answer_ok, upstream) as server:
            files = {"ca_file": ca_file, "client_cert_file": cert, "client_key_file": key}
            gateway = start_gateway(managed={"base_url": server.url, **files})
            metrics = gateway.gateway.metrics.registry

            def reloads(outcome: str) -> float | None:
                labels = {"side": "managed", "outcome": outcome}
                return metrics.get_sample_value("homeport_gateway_tls_reloads_total", labels)

            async def status() -> int:
                async with httpx.AsyncClient() as client:  # a new connection to the gateway
                    response = await client.get(gateway.base_url + "/models")
                    return response.status_code

            assert await status() == 502  # the old certificate is refused
            renew(new_ca)
            assert await status() == 200
            assert reloads("loaded") == 1
            renew(trustme.CA(), key_too=False)  # a certificate without its key (yet)
            assert [await status() for _ in range(3)] == [200, 200, 200]
            assert reloads("rejected") == 1  # once for the change, not for every check
            assert reloads("loaded") == 1
        assert server.connections == 4  # each answer on a new connection, with the valid files

    run(test)


LENGTHLESS = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"


class ClosingTlsServer:
    """A TLS server in a thread, its TLS run by hand (``ssl`` over memory buffers): answers each
    request with ``LENGTHLESS`` and ``body`` (a body that ends when the connection does), then
    sends close_notify and closes at once, without waiting for the client's (``clean``), or
    closes the TCP connection under the TLS session, as a truncating attacker or a crash would.
    """

    def __init__(self, context: ssl.SSLContext, clean: bool, body: bytes = b"all of it") -> None:
        self.context = context
        self.clean = clean
        self.body = body
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # how often the accept loop looks at the stop flag
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="closing-tls", daemon=True)

    def __enter__(self) -> ClosingTlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self._listener.close()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            with raw, contextlib.suppress(OSError):
                raw.settimeout(10)
                self._answer(raw)

    def _answer(self, raw: socket.socket) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)

        def step(operation: Callable[[], Any]) -> Any:
            """``operation``, fed from the socket until it has what it needs."""
            while True:
                try:
                    return operation()
                except ssl.SSLWantReadError:
                    raw.sendall(outgoing.read())
                    data = raw.recv(1 << 16)
                    if not data:
                        raise ConnectionError("the client left") from None
                    incoming.write(data)

        step(tls.do_handshake)
        self.connections += 1
        head = b""
        while b"\r\n\r\n" not in head:
            head += step(lambda: tls.read(1 << 16))
        tls.write(LENGTHLESS + self.body)
        if self.clean:
            with contextlib.suppress(ssl.SSLWantReadError):  # sent; the client's is not awaited
                tls.unwrap()
        raw.sendall(outgoing.read())


@LOOPS
@pytest.mark.parametrize("clean", [True, False], ids=["close_notify", "bare-close"])
def test_a_tls_body_without_length_ends_only_at_close_notify(
    runner: Runner, clean: bool, ca: trustme.CA, trusted: None
) -> None:
    async def test() -> None:
        with ClosingTlsServer(tls_server(ca, "127.0.0.1"), clean) as server:
            pool = pool_for(server.url)
            for _ in range(2):  # the broken connection is not reused
                response = await pool.request("GET", "/v1/files/file-1/content", b"", b"")
                assert response.status == 200
                if clean:
                    assert await read_all(response) == b"all of it"
                else:
                    with pytest.raises(UpstreamDisconnected, match="without close_notify"):
                        await read_all(response)
            await pool.close()
        assert server.connections == 2

    runner(test())


@LOOPS
@pytest.mark.parametrize("clean", [True, False], ids=["close_notify", "bare-close"])
def test_a_large_tls_body_without_length_read_slowly_ends_as_the_upstream_closed(
    runner: Runner, clean: bool, ca: trustme.CA, trusted: None
) -> None:
    """Reading pauses (the answer piles up) while the close is already on its way: the bytes
    and close_notify that came with the close are still handed over (uvloop dropped them)."""
    body = bytes(range(256)) * (4 << 10) + b"tail" * 40_000  # 1 MiB and some: reading pauses

    async def test() -> None:
        with ClosingTlsServer(tls_server(ca, "127.0.0.1"), clean, body) as server:
            pool = pool_for(server.url)
            for _ in range(10):
                response = await pool.request("GET", "/v1/files/file-1/content", b"", b"")
                await asyncio.sleep(0.1)  # everything, close included, is sent meanwhile
                if clean:
                    assert await read_all(response) == body
                else:
                    with pytest.raises(UpstreamDisconnected, match="without close_notify"):
                        await read_all(response)
            await pool.close()

    runner(test())


@pytest.mark.parametrize("clean", [True, False], ids=["close_notify", "bare-close"])
def test_gateway_cuts_a_tls_body_without_length_short_without_close_notify(
    start_gateway: GatewayFactory, clean: bool, ca: trustme.CA, ca_file: Path, system_roots: None
) -> None:
    with ClosingTlsServer(tls_server(ca, "127.0.0.1"), clean) as server:
        gateway = start_gateway(managed={"base_url": server.url, "ca_file": ca_file})
        with httpx.Client(base_url=gateway.base_url) as client:
            if clean:
                response = client.get("/files/file-1/content")
                assert response.status_code == 200
                assert response.text == "all of it"
            else:
                with pytest.raises(httpx.RemoteProtocolError):
                    client.get("/files/file-1/content")
