"""The local embedder: the shipped int8 all-MiniLM-L6-v2 on onnxruntime, offline."""

from __future__ import annotations

import numpy as np

from homeport.knowledge.embeddings import LocalEmbedder, embedder_name, get_embedder
from homeport.knowledge.settings import KnowledgeSettings


def test_local_vectors_are_unit_length_and_meaningful() -> None:
    embedder = get_embedder(KnowledgeSettings())
    assert embedder.name == embedder_name(KnowledgeSettings()) == "local:all-MiniLM-L6-v2"
    vectors = embedder.embed(
        ["The cat sits on the mat.", "A kitten is resting on a rug.", "Interest rates rose."]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > 0.4 > unrelated


def test_batching_and_order_do_not_change_vectors() -> None:
    texts = [f"sentence number {i} about {'dogs' if i % 2 else 'tax law'}" for i in range(20)]
    one = LocalEmbedder(batch_size=3).embed(texts)
    other = LocalEmbedder(batch_size=64).embed(texts[::-1])[::-1]
    assert np.allclose(one, other, atol=1e-4)


def test_long_text_is_embedded_whole() -> None:
    embedder = get_embedder(KnowledgeSettings())
    head = "Glaciers carve valleys out of rock. " * 40
    tail = "Sourdough bread rises thanks to wild yeast. " * 40
    whole, only_head = embedder.embed([head + tail, head])
    bread = embedder.embed(["How does sourdough bread rise?"])[0]
    assert float(whole @ bread) > float(only_head @ bread) + 0.1
