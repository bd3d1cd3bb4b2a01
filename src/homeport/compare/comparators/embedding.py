"""Meaning: cosine similarity of the two texts' embeddings, with a band where it is unsure."""

from __future__ import annotations

import math

from homeport.compare.answers import Answer, Outcome, TurnContext, Verdict
from homeport.compare.comparators.base import Comparator, Dependencies
from homeport.knowledge.settings import KnowledgeSettings

SAME_AT = 0.85
DIFFERENT_BELOW = 0.6


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class EmbeddingComparator(Comparator):
    name = "embedding"
    cost = 5
    needs_embedder = True

    def __init__(
        self, deps: Dependencies, same_at: float = SAME_AT, different_below: float = DIFFERENT_BELOW
    ) -> None:
        super().__init__(deps)
        self.same_at = same_at
        self.different_below = different_below

    def compare(self, baseline: Answer, candidate: Answer, context: TurnContext) -> Verdict | None:
        embedder = self.deps.embedder
        if embedder is None or not baseline.text.strip() or not candidate.text.strip():
            return None
        first, second = embedder.embed([baseline.text, candidate.text])
        score = cosine(first, second)
        if score >= self.same_at:
            outcome = Outcome.SAME
        elif score < self.different_below:
            outcome = Outcome.DIFFERENT
        else:
            outcome = Outcome.UNSURE
        return Verdict(self.name, outcome, f"cosine {score:.3f}", score)


class KnowledgeEmbedder:
    """The embedder of ``homeport.knowledge`` (the local ONNX model unless configured otherwise)."""

    def __init__(self, settings: KnowledgeSettings) -> None:
        from homeport.knowledge.embeddings import get_embedder

        self.inner = get_embedder(settings)

    def embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self.inner.embed(texts).tolist()
        return vectors
