"""Any OpenAI-compatible chat-completions server (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp)
through the official ``openai`` SDK, streaming with usage.

The request goes through the SDK's client (its auth, headers, retries, timeouts and HTTP errors)
on its aiohttp transport, as a raw streamed response, and the server-sent chunks are read here
with orjson: the SDK's own request transform and one model object per chunk, on its default
HTTP client, cost about three times as much CPU.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx2
import openai
import orjson

from homeport.config import ModelRoute
from homeport.engine.providers.base import ModelProvider, ProviderError
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

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}


def upstream_error(exc: Exception, route: ModelRoute) -> ProviderError:
    """An SDK exception as the error a run records (shared by the OpenAI-shaped SDKs)."""
    where = f"model '{route.name}' ({route.provider} at {route.base_url or 'default URL'})"
    status = getattr(exc, "status_code", None)
    if status == 429:
        return ProviderError(f"{where} is rate limited: {_detail(exc)}", "rate_limit_exceeded")
    if status is not None:
        return ProviderError(f"{where} answered HTTP {status}: {_detail(exc)}")
    refused = _connection_failure(exc)
    if refused is not None:
        return ProviderError(f"{where} could not be reached: {refused}")
    if "timeout" in type(exc).__name__.lower():
        return ProviderError(f"{where} did not answer within {route.timeout_seconds:g}s.")
    return ProviderError(f"{where} could not be reached: {_detail(exc)}")


def _connection_failure(exc: BaseException) -> str | None:
    """The aiohttp connection failure behind ``exc``, if any: the SDK's aiohttp transport reports
    a refused or dropped connection as a connect timeout."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return None
        if isinstance(cause, aiohttp.ClientConnectionError):
            return str(cause)[:500]
        cause = cause.__cause__
    return None


async def _chunks(response: httpx2.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of a chat-completions event stream, up to ``[DONE]``. The body is read
    to its end so the connection is reused; transport failures and in-stream errors raise the
    SDK's exceptions, as its own stream reader does."""
    data: list[str] = []
    done = False
    try:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data.append(line[6:] if line.startswith("data: ") else line[5:])
            elif not line and data:  # a blank line ends an event; other fields are ignored
                text, data = "\n".join(data), []
                done = done or text.startswith("[DONE]")
                if not done:
                    yield _chunk(text, response)
        if data and not done:  # a last event without its blank line
            yield _chunk("\n".join(data), response)
    except httpx2.TimeoutException as exc:
        raise openai.APITimeoutError(request=response.request) from exc
    except httpx2.TransportError as exc:
        raise openai.APIConnectionError(request=response.request) from exc


def _chunk(text: str, response: httpx2.Response) -> dict[str, Any]:
    chunk = orjson.loads(text)
    if not isinstance(chunk, dict):
        return {}
    error = chunk.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else None
        if not isinstance(message, str) or not message:
            message = "An error occurred during streaming"
        raise openai.APIError(message, response.request, body=error)
    return chunk


def _detail(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message)[:500]


class OpenAIProvider(ModelProvider):
    def __init__(self, route: ModelRoute) -> None:
        super().__init__(route)
        self.client = openai.AsyncOpenAI(
            base_url=route.base_url,
            api_key=route.resolved_api_key() or "homeport",
            timeout=route.timeout_seconds,
            max_retries=route.max_retries,
            default_headers=route.extra_headers or None,
            http_client=openai.DefaultAioHttpClient(),
        )

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
        try:
            response = await self.client.post(
                "/chat/completions",
                cast_to=httpx2.Response,
                body=self._body(request),
                stream=True,
            )
            try:
                async for chunk in _chunks(response):
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
                if finish is None:
                    # A stream cut off upstream is a failed call, not an empty answer.
                    raise openai.APIError(
                        "The model's stream ended before the model finished its answer.",
                        response.request,
                        body=None,
                    )
            finally:
                await response.aclose()
        except openai.OpenAIError as exc:
            raise upstream_error(exc, self.route) from exc
        yield Finished(finish)

    async def aclose(self) -> None:
        await self.client.close()
