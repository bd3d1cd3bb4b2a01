"""The OpenAI-compatible provider against the scripted model: streaming, retries as the SDK
retries them, and failures in the words a run records."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from homeport.config import ModelRoute
from homeport.engine.providers.base import ProviderError
from homeport.engine.providers.openai_compat import OpenAIProvider
from homeport.engine.types import Finished, ModelRequest, StreamEvent, TextDelta, Usage
from homeport.testing.background import free_port
from homeport.testing.scripted_model import ScriptedModelServer


@pytest.fixture(scope="module")
def model() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


def _call(route: ModelRoute, text: str) -> list[StreamEvent]:
    async def run() -> list[StreamEvent]:
        provider = OpenAIProvider(route)
        try:
            request = ModelRequest(model=route.name, messages=[{"role": "user", "content": text}])
            return [event async for event in provider.stream(request)]
        finally:
            await provider.aclose()

    return asyncio.run(run())


def _route(base_url: str, retries: int = 0) -> ModelRoute:
    return ModelRoute(name="scripted", base_url=base_url, api_key="k", max_retries=retries)


def _calls(model: ScriptedModelServer, marker: str) -> int:
    bodies = httpx.get(model.url + "/_scripted/requests").json()
    return sum(marker in str(body) for body in bodies)


def test_streams_text_usage_and_finish(model: ScriptedModelServer) -> None:
    events = _call(_route(model.base_url), "hello there")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Echo: hello there"
    assert Usage(5, 3) in events
    assert events[-1] == Finished("stop")


def test_server_errors_are_retried_then_fail_the_call(model: ScriptedModelServer) -> None:
    with pytest.raises(ProviderError) as caught:
        _call(_route(model.base_url, retries=1), "retried [[fail 503]]")
    assert "answered HTTP 503" in caught.value.message and caught.value.code == "server_error"
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
