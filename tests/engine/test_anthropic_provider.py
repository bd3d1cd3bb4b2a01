"""The Anthropic provider's failed calls in the words a run records: what its SDK raises on its
own transport (httpx2) for a connection refused, dropped or silent."""

from __future__ import annotations

import asyncio

import pytest

from homeport.config import ModelRoute
from homeport.engine.providers.anthropic import AnthropicProvider
from homeport.engine.providers.base import ProviderError
from homeport.engine.types import ModelRequest
from homeport.testing.background import free_port
from tests.support.raw_server import RawServer


async def _fail(base_url: str) -> str:
    route = ModelRoute(
        name="claude",
        provider="anthropic",
        base_url=base_url,
        api_key="k",
        max_retries=0,
        timeout_seconds=0.5,
    )
    provider = AnthropicProvider(route)
    request = ModelRequest(model="claude", messages=[{"role": "user", "content": "hi"}])
    try:
        with pytest.raises(ProviderError) as caught:
            _ = [event async for event in provider.stream(request)]
    finally:
        await provider.aclose()
    return caught.value.message.removeprefix(f"model 'claude' (anthropic at {base_url}) ")


def test_a_connection_refused_dropped_or_silent_is_named() -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # then closes without answering

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers

    async def test() -> None:
        refused = await _fail(f"http://127.0.0.1:{free_port()}")
        assert refused == "could not be reached: All connection attempts failed"
        async with RawServer(drop) as server:
            dropped = await _fail(server.url)
        assert dropped == "could not be reached: Server disconnected without sending a response."
        async with RawServer(hold) as server:
            assert await _fail(server.url) == "did not answer within 0.5s."

    asyncio.run(test())
