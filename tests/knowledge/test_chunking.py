"""Chunking as OpenAI's: token windows counted with cl100k_base, overlap, strategy checks."""

from __future__ import annotations

import pytest

from homeport.errors import InvalidRequest
from homeport.knowledge.chunking import chunk_text, count_tokens, encoding, resolve_strategy


def test_encoding_is_cl100k_and_offline() -> None:
    # Known cl100k_base token ids: the real encoding file, not an approximation.
    assert encoding().encode("hello world") == [15339, 1917]
    assert count_tokens("tiktoken is great!") == 6


def test_auto_is_800_with_400_overlap() -> None:
    assert (
        resolve_strategy(None)
        == resolve_strategy({"type": "auto"})
        == {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}
    )


@pytest.mark.parametrize(
    "static",
    [
        {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0},
        {"max_chunk_size_tokens": 4097, "chunk_overlap_tokens": 0},
        {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 101},
        {"max_chunk_size_tokens": 200},
    ],
)
def test_bad_static_strategies_are_400s(static: dict[str, int]) -> None:
    with pytest.raises(InvalidRequest):
        resolve_strategy({"type": "static", "static": static})


def test_windows_overlap_and_cover_the_text() -> None:
    words = [f"w{i}" for i in range(1000)]
    text = " ".join(words)
    strategy = resolve_strategy(
        {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50}}
    )
    chunks = chunk_text(text, strategy)
    total = count_tokens(text)
    assert [c.n for c in chunks] == list(range(len(chunks)))
    assert all(c.tokens <= 200 for c in chunks)
    assert len(chunks) == -(-(total - 50) // 150)
    assert chunks[0].text.startswith("w0 ") and chunks[-1].text.endswith("w999")
    tail = chunks[0].text.split()[-5:]
    assert " ".join(tail) in chunks[1].text, "consecutive chunks share their overlap"


def test_short_text_is_one_chunk_and_multibyte_edges_stay_whole() -> None:
    assert [c.text for c in chunk_text("short", resolve_strategy(None))] == ["short"]
    strategy = resolve_strategy(
        {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
    )
    for chunk in chunk_text("日本語のテキスト。" * 200, strategy):
        chunk.text.encode("utf-8")
        assert "\ufffd" not in chunk.text
