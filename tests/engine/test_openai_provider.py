"""The OpenAI-compatible provider against the scripted model: streaming, retries as the SDK
retries them, and failures in the words a run records. A raw upstream
(``tests.support.raw_server``) plays what the scripted model does not: event streams cut in odd
places, retry headers, TLS, a stream the caller abandons."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trustme
import uvloop

from homeport.config import ModelRoute
from homeport.engine.providers import openai_compat
from homeport.engine.providers.base import ProviderError
from homeport.engine.providers.openai_compat import OpenAIProvider
from homeport.engine.types import Finished, ModelRequest, StreamEvent, TextDelta, Usage
from homeport.testing.background import free_port
from homeport.testing.scripted_model import ScriptedModelServer
from tests.support.raw_server import RawServer, Script, chunk, tls_server

_CONTENT_LENGTH = re.compile(rb"content-length: (\d+)", re.IGNORECASE)


@pytest.fixture(scope="module")
def model() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


def _request(text: str = "hello") -> ModelRequest:
    return ModelRequest(model="scripted", messages=[{"role": "user", "content": text}])


async def _ask(provider: OpenAIProvider, text: str = "hello") -> list[StreamEvent]:
    return [event async for event in provider.stream(_request(text))]


def _call(route: ModelRoute, text: str) -> list[StreamEvent]:
    async def run() -> list[StreamEvent]:
        provider = OpenAIProvider(route)
        try:
            return await _ask(provider, text)
        finally:
            await provider.aclose()

    return asyncio.run(run())


def _route(base_url: str, retries: int = 0, **options: Any) -> ModelRoute:
    return ModelRoute(
        name="scripted", base_url=base_url, api_key="k", max_retries=retries, **options
    )


def _text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def _calls(model: ScriptedModelServer, marker: str) -> int:
    bodies = httpx.get(model.url + "/_scripted/requests").json()
    return sum(marker in str(body) for body in bodies)


def test_streams_text_usage_and_finish(model: ScriptedModelServer) -> None:
    events = _call(_route(model.base_url), "hello there")
    assert _text(events) == "Echo: hello there"
    assert Usage(5, 3) in events
    assert events[-1] == Finished("stop")


def test_server_errors_are_retried_then_fail_the_call(model: ScriptedModelServer) -> None:
    with pytest.raises(ProviderError) as caught:
        _call(_route(model.base_url, retries=1), "retried [[fail 503]]")
    assert caught.value.message.endswith("answered HTTP 503: Scripted failure (503).")
    assert caught.value.code == "server_error"
    assert _calls(model, "retried [[fail 503]]") == 2


def test_client_errors_are_not_retried(model: ScriptedModelServer) -> None:
    with pytest.raises(ProviderError) as caught:
        _call(_route(model.base_url, retries=2), "once [[fail 400]]")
    assert "answered HTTP 400" in caught.value.message
    assert _calls(model, "once [[fail 400]]") == 1


def test_rate_limits_keep_their_code(model: ScriptedModelServer) -> None:
    with pytest.raises(ProviderError) as caught:
        _call(_route(model.base_url), "[[fail 429]]")
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.message.startswith("model 'scripted' (openai at ")


def test_a_cut_stream_fails_the_call(model: ScriptedModelServer) -> None:
    with pytest.raises(ProviderError, match="ended before the model finished"):
        _call(_route(model.base_url), "[[cut]] a story")


def test_an_unreachable_upstream_is_named(model: ScriptedModelServer) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ProviderError) as caught:
        _call(_route(url), "anyone?")
    assert caught.value.message.startswith(f"model 'scripted' (openai at {url}) could not be")


# ---------------------------------------------------------------------- against a raw upstream


def _delta(text: str) -> bytes:
    return orjson.dumps({"choices": [{"index": 0, "delta": {"content": text}}]})


FINISH = orjson.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})


def _events(*pieces: bytes) -> list[bytes]:
    """A streamed answer: each piece one chunk of the body, written on its own."""
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    return [head, *(chunk(piece) for piece in pieces), chunk(b"")]


def _failure(status: int, headers: bytes = b"", message: str | None = None) -> list[bytes]:
    body = orjson.dumps({"error": {"message": message, "type": "x"}}) if message else b""
    phrase = HTTPStatus(status).phrase.encode()
    return [
        b"HTTP/1.1 %d %s\r\n%scontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
        % (status, phrase, headers, len(body), body)
    ]


def _answering(*answers: list[bytes], requests: list[bytes]) -> Script:
    """Answers the n-th request (over all connections) with ``answers[n]`` (the last one after
    that), each piece written and drained on its own; ``requests`` gets each request whole."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the client closed the connection
            length = _CONTENT_LENGTH.search(head)
            assert length is not None
            requests.append(head + await reader.readexactly(int(length[1])))
            for piece in answers[min(len(requests), len(answers)) - 1]:
                writer.write(piece)
                await writer.drain()

    return script


def _run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def test_the_request_and_a_stream_cut_anywhere() -> None:
    """Lines of any length and split anywhere, ``data:`` with or without its space, CRLF, data
    over several lines, comments and other fields, a last event without its blank line."""
    long = "x" * 300_000
    half = _delta(" two")
    answer = _events(
        b"data:" + _delta("one") + b"\r\n\r\n",
        b": keep-alive\n\nevent: message\nid: 7\ndata: " + half[:10],
        half[10:] + b"\n",
        b"\n",
        b'data: {"choices":\ndata: [{"index": 0, "delta": {"content": " three"}}]}\n\n',
        b"data: " + _delta(long) + b"\n\n",
        b"data: " + FINISH,
    )
    requests: list[bytes] = []

    async def test() -> None:
        async with RawServer(_answering(answer, requests=requests)) as server:
            route = _route(server.url, extra_headers={"x-tenant": "blue"})
            provider = OpenAIProvider(route)
            events = await _ask(provider, "hi")
            await provider.aclose()
        assert _text(events) == "one two three" + long
        assert events[-1] == Finished("stop")

    _run(test)
    head, _, body = requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions HTTP/1.1"
    for line in (
        b"authorization: Bearer k",
        b"content-type: application/json",
        b"accept: text/event-stream",
        b"x-tenant: blue",
    ):
        assert line in lines
    sent = orjson.loads(body)
    assert sent["model"] == "scripted" and sent["stream"] is True
    assert sent["messages"] == [{"role": "user", "content": "hi"}]


def test_a_stream_read_to_its_end_leaves_its_connection_for_the_next_call() -> None:
    """Past ``[DONE]`` (whatever follows it is not an event), to the end of the body."""
    answer = _events(
        b"data: " + _delta("a") + b"\n\n" + b"data: " + FINISH + b"\n\n",
        b"data: [DONE]\n\n",
        b"data: " + _delta("not an event") + b"\n\n",
    )
    requests: list[bytes] = []

    async def test() -> None:
        async with RawServer(_answering(answer, requests=requests)) as server:
            provider = OpenAIProvider(_route(server.url))
            for _ in range(3):
                events = await _ask(provider)
                assert _text(events) == "a" and events[-1] == Finished("stop")
            await provider.aclose()
        assert len(requests) == 3
        assert server.connections == 1

    _run(test)


def test_an_error_event_fails_the_call() -> None:
    answer = _events(
        b"data: " + _delta("a") + b"\n\n",
        b'data: {"error": {"message": "The model is overloaded.", "type": "server_error"}}\n\n',
    )

    async def test() -> None:
        async with RawServer(_answering(answer, requests=[])) as server:
            provider = OpenAIProvider(_route(server.url))
            with pytest.raises(ProviderError, match=r"could not be reached: The model is overl"):
                await _ask(provider)
            await provider.aclose()

    _run(test)


RETRIES = [
    # status, headers, retried, waits by backoff (not by the upstream's word)
    (503, b"x-should-retry: false\r\n", False, 0),
    (400, b"x-should-retry: true\r\n", True, 1),
    (408, b"", True, 1),
    (409, b"", True, 1),
    (429, b"retry-after-ms: 1\r\n", True, 0),
    (429, b"retry-after: 0.001\r\n", True, 0),
    (429, b"retry-after: 120\r\n", True, 1),  # longer than a minute: backoff instead
    (500, b"retry-after: soon\r\n", True, 1),
]


@pytest.mark.parametrize(("status", "headers", "retried", "backoffs"), RETRIES)
def test_retries_follow_the_status_and_the_upstreams_headers(
    status: int, headers: bytes, retried: bool, backoffs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[int] = []

    def backoff(attempt: int) -> float:
        waits.append(attempt)
        return 0.0

    monkeypatch.setattr(openai_compat, "_backoff", backoff)
    first = _failure(status, headers, "Try again later.")
    then = _events(b"data: " + _delta("ok") + b"\n\n" + b"data: " + FINISH + b"\n\n")
    requests: list[bytes] = []

    async def test() -> None:
        async with RawServer(_answering(first, then, requests=requests)) as server:
            provider = OpenAIProvider(_route(server.url, retries=1))
            try:
                if retried:
                    assert _text(await asyncio.wait_for(_ask(provider), 10)) == "ok"
                else:
                    with pytest.raises(ProviderError) as caught:
                        await _ask(provider)
                    assert caught.value.message.endswith(f"HTTP {status}: Try again later.")
            finally:
                await provider.aclose()
        assert server.connections == 1  # the error answer was read whole: its connection kept

    _run(test)
    assert len(requests) == (2 if retried else 1)
    assert len(waits) == backoffs


@pytest.mark.parametrize(("status", "calls"), [(502, 2), (301, 1)])
def test_an_error_without_a_body_is_named_by_its_status(status: int, calls: int) -> None:
    """A redirect is not followed: it fails the call, and is not retried."""
    requests: list[bytes] = []

    async def test() -> None:
        async with RawServer(_answering(_failure(status), requests=requests)) as server:
            provider = OpenAIProvider(_route(server.url, retries=1))
            with pytest.raises(ProviderError) as caught:
                await _ask(provider)
            await provider.aclose()
        phrase = HTTPStatus(status).phrase
        assert caught.value.message.endswith(f"answered HTTP {status}: {phrase}")

    _run(test)
    assert len(requests) == calls


def test_a_silent_upstream_times_out() -> None:
    """Before the answer and between two of its pieces."""
    stalled = _events(b"data: " + _delta("a") + b"\n\n")[:2]  # no end

    async def test() -> None:
        for answer in ([], stalled):
            async with RawServer(_answering(answer, requests=[])) as server:
                provider = OpenAIProvider(_route(server.url, timeout_seconds=0.3))
                with pytest.raises(ProviderError, match=r"did not answer within 0.3s\.$"):
                    await asyncio.wait_for(_ask(provider), 10)
                await provider.aclose()

    _run(test)


@pytest.mark.parametrize("ending", ["the caller raises", "the caller is cancelled"])
def test_an_abandoned_stream_closes_its_connection(ending: str) -> None:
    closed = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for piece in _events(b"data: " + _delta("a") + b"\n\n")[:2]:  # then nothing more
            writer.write(piece)
        while await reader.read(1 << 16):
            pass
        closed.set()

    async def test() -> None:
        async with RawServer(script) as server:
            provider = OpenAIProvider(_route(server.url))
            first = asyncio.Event()

            async def consume() -> None:
                async for event in provider.stream(_request()):  # as the executor reads it
                    assert isinstance(event, TextDelta)
                    first.set()
                    if ending == "the caller raises":
                        raise LookupError("the caller's own failure")

            task = asyncio.create_task(consume())
            await first.wait()
            if ending == "the caller is cancelled":
                await asyncio.sleep(0.05)  # waiting for the next piece
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.wait_for(closed.wait(), 5)
            await provider.aclose()

    _run(test)


@pytest.mark.parametrize("runner", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_an_https_upstream_is_verified_and_its_connection_kept(
    runner: Callable[[Coroutine[Any, Any, None]], None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Trusted as homeport's other clients trust a private CA: the system's roots
    (``SSL_CERT_FILE``); a certificate from another CA is refused."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    answer = _events(b"data: " + _delta("secret") + b"\n\n" + b"data: " + FINISH + b"\n\n")

    async def test() -> None:
        script = _answering(answer, requests=[])
        async with RawServer(script, tls_server(ca, "127.0.0.1")) as server:
            assert server.url.startswith("https://")
            provider = OpenAIProvider(_route(server.url))
            for _ in range(2):
                assert _text(await _ask(provider)) == "secret"
            await provider.aclose()
        assert server.connections == 1
        async with RawServer(script, tls_server(trustme.CA(), "127.0.0.1")) as server:
            provider = OpenAIProvider(_route(server.url))
            with pytest.raises(ProviderError, match=r"could not be reached: .*certificate verify"):
                await _ask(provider)
            await provider.aclose()

    runner(test())
