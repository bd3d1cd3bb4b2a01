"""Any OpenAI-compatible chat-completions server (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp),
streaming with usage, on homeport's HTTP client (``homeport.httpclient``, the gateway's too).

The call is one ``POST {base_url}/chat/completions`` (bearer key, the route's extra headers) on
the route's keep-alive pool (an https upstream verified against the system's roots, as
``homeport.tls`` does it), and its server-sent chunks are parsed with orjson as they arrive; a
stream read to its end gives its connection back for the next call. Failures are handled as the
official ``openai`` SDK handles them: a refused connection, a timeout, HTTP 408, 409, 429 and
5xx are retried ``max_retries`` times with exponential backoff (0.5 s doubling to 8 s, with
jitter) or the upstream's ``retry-after``/``retry-after-ms`` when it asks for at most a minute
(``x-should-retry`` overrides the status); ``timeout_seconds`` bounds the connection and each
wait for the next piece of the answer. A redirect is not followed: it fails the call. The SDK
itself costs about 1.5 ms of CPU per call (its request building and transport adapters), a
third of a whole run's.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from http.client import responses
from typing import Any
from urllib.parse import urlsplit

import orjson

from homeport.config import ModelRoute
from homeport.engine.providers.base import ModelProvider, ProviderError
from homeport.engine.providers.errors import http_failure, timed_out, unreachable
from homeport.engine.types import (
    Finished,
    FinishReason,
    ModelRequest,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from homeport.httpclient import Pool, Response, UpstreamError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRIED_STATUSES = frozenset({408, 409, 429})
FIRST_BACKOFF, MAX_BACKOFF, MAX_RETRY_AFTER = 0.5, 8.0, 60.0
MAX_CONNECTIONS = 100  # calls at once per route; more wait for a connection
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}


class OpenAIProvider(ModelProvider):
    def __init__(self, route: ModelRoute) -> None:
        super().__init__(route)
        self.base_url = (route.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.target = urlsplit(self.base_url).path + "/chat/completions"
        headers = {
            "authorization": f"Bearer {route.resolved_api_key() or 'homeport'}",
            "content-type": "application/json",
            "accept": "text/event-stream",
            **route.extra_headers,
        }
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
        self._pool: Pool | None = None

    def _body(self, request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.route.upstream,
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            body["tools"] = request.tools
            if request.tool_choice is not None:
                body["tool_choice"] = request.tool_choice
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        optional = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_tokens": request.max_tokens,
            "response_format": request.response_format,
            "reasoning_effort": request.reasoning_effort,
            "user": request.user,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        finish: FinishReason | None = None
        response = await self._post(orjson.dumps(self._body(request)))
        try:
            async for chunk in self._chunks(response):
                usage = chunk.get("usage")
                if usage:
                    yield Usage(
                        usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
                    )
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    reasoning = delta.get("reasoning_content")
                    if reasoning:
                        yield ReasoningDelta(reasoning)
                    if delta.get("content"):
                        yield TextDelta(delta["content"])
                    for call in delta.get("tool_calls") or ():
                        function = call.get("function") or {}
                        yield ToolCallDelta(
                            call["index"],
                            call.get("id"),
                            function.get("name"),
                            function.get("arguments") or "",
                        )
                    if choice.get("finish_reason"):
                        finish = _FINISH.get(choice["finish_reason"], "stop")
        finally:
            response.release()
        if finish is None:
            # A stream cut off upstream is a failed call, not an empty answer.
            raise unreachable(
                self.route, "The model's stream ended before the model finished its answer."
            )
        yield Finished(finish)

    async def _post(self, body: bytes) -> Response:
        """The streamed response, once the upstream accepted the call (retried as the SDK
        retries)."""
        if self._pool is None:  # made on the running loop
            timeout = self.route.timeout_seconds
            self._pool = Pool(
                self.base_url,
                max_connections=MAX_CONNECTIONS,
                connect_timeout=timeout,
                read_timeout=timeout,
            )
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = await self._pool.request("POST", self.target, self.headers, body)
            except UpstreamError as exc:
                failure = _transport_failure(self.route, exc)
            else:
                if response.status < 300:
                    return response
                failure = http_failure(self.route, response.status, await _detail(response))
                if not _retried(response):
                    raise failure
                retry_after = _retry_after(response)
            if attempt >= self.route.max_retries:
                raise failure
            await asyncio.sleep(retry_after or _backoff(attempt))
            attempt += 1

    async def _chunks(self, response: Response) -> AsyncIterator[dict[str, Any]]:
        """The JSON chunks of a chat-completions event stream, up to ``[DONE]``, read to its end
        so the connection is reused (lines of any length). An ``error`` chunk fails the call."""
        data: list[bytes] = []
        done = False
        rest = b""
        try:
            async for block in response:
                *lines, rest = (rest + block).split(b"\n")
                for raw in lines:
                    line = raw.rstrip(b"\r")
                    if line.startswith(b"data:"):
                        data.append(line[6:] if line.startswith(b"data: ") else line[5:])
                    elif not line and data:  # a blank line ends an event; other fields: ignored
                        text, data = b"\n".join(data), []
                        done = done or text.startswith(b"[DONE]")
                        if not done:
                            yield self._chunk(text)
        except UpstreamError as exc:
            raise _transport_failure(self.route, exc) from exc
        if rest.startswith(b"data:"):
            data.append(rest[6:] if rest.startswith(b"data: ") else rest[5:])
        last = b"\n".join(data)  # a last event without its blank line
        if last and not done and not last.startswith(b"[DONE]"):
            yield self._chunk(last)

    def _chunk(self, text: bytes) -> dict[str, Any]:
        try:
            chunk = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise unreachable(self.route, f"the stream sent invalid JSON: {text[:200]!r}") from exc
        if not isinstance(chunk, dict):
            return {}
        error = chunk.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else None
            if not isinstance(message, str) or not message:
                message = "An error occurred during streaming"
            raise unreachable(self.route, message)
        return chunk

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _transport_failure(route: ModelRoute, exc: UpstreamError) -> ProviderError:
    if isinstance(exc, TimeoutError):  # connect and read timeouts (UpstreamTimeout)
        return timed_out(route)
    return unreachable(route, str(exc) or type(exc).__name__)


def _retried(response: Response) -> bool:
    should = response.header(b"x-should-retry")
    if should in (b"true", b"false"):
        return should == b"true"
    return response.status in RETRIED_STATUSES or response.status >= 500


def _retry_after(response: Response) -> float | None:
    """The wait the upstream asks for, if it is a number of (milli)seconds up to a minute."""
    for header, scale in ((b"retry-after-ms", 1000.0), (b"retry-after", 1.0)):
        try:
            seconds = float(response.header(header) or b"") / scale
        except ValueError:
            continue
        if 0 < seconds <= MAX_RETRY_AFTER:
            return seconds
    return None


def _backoff(attempt: int) -> float:
    return min(FIRST_BACKOFF * 2.0**attempt, MAX_BACKOFF) * (1 - 0.25 * random.random())


async def _detail(response: Response) -> str:
    """The upstream's error message (``{"error": {"message"}}``), else its body (else the
    status's name)."""
    try:
        text = (await response.read()).decode(errors="replace")
    except UpstreamError as exc:
        return str(exc) or type(exc).__name__
    finally:
        response.release()
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text or responses.get(response.status, "")
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else text
