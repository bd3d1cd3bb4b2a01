"""Any OpenAI-compatible chat-completions server (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp)
through the official ``openai`` SDK, streaming with usage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai

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
    if "timeout" in type(exc).__name__.lower():
        return ProviderError(f"{where} did not answer within {route.timeout_seconds:g}s.")
    return ProviderError(f"{where} could not be reached: {_detail(exc)}")


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
        finish: FinishReason = "stop"
        try:
            chunks = await self.client.chat.completions.create(**self._body(request))
            async for chunk in chunks:
                if chunk.usage is not None:
                    yield Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                for choice in chunk.choices:
                    delta = choice.delta
                    reasoning = getattr(delta, "reasoning_content", None)
                    if reasoning:
                        yield ReasoningDelta(reasoning)
                    if delta.content:
                        yield TextDelta(delta.content)
                    for call in delta.tool_calls or ():
                        function = call.function
                        yield ToolCallDelta(
                            call.index,
                            call.id,
                            function.name if function else None,
                            (function.arguments or "") if function else "",
                        )
                    if choice.finish_reason:
                        finish = _FINISH.get(choice.finish_reason, "stop")
        except openai.OpenAIError as exc:
            raise upstream_error(exc, self.route) from exc
        yield Finished(finish)

    async def aclose(self) -> None:
        await self.client.close()
