"""What the dear comparators need, built from settings: the same choice offline and live, so a
noise floor measured by ``homeport compare`` is comparable with the rollout's shadow pairs."""

from __future__ import annotations

from homeport.compare.comparators.base import Dependencies, Embedder, Judge
from homeport.compare.comparators.embedding import KnowledgeEmbedder
from homeport.compare.comparators.judge import ModelJudge
from homeport.config import Settings
from homeport.errors import HomeportError, InvalidRequest


def build_dependencies(
    config: Settings, *, embeddings: bool = True, judge_model: str | None = None
) -> tuple[Dependencies, list[str]]:
    """The comparators' dependencies and notes on what had to be left out (and why)."""
    notes = []
    embedder: Embedder | None = None
    if embeddings:
        try:
            embedder = KnowledgeEmbedder(config.knowledge)
        except HomeportError as exc:
            notes.append(f"embedding comparator off: {exc}")
    judge: Judge | None = None
    if judge_model is not None:
        route = config.route(judge_model)
        if route is None:
            raise InvalidRequest(
                f"No route for model '{judge_model}': add [[models]] name = "
                f'"{judge_model}" to homeport.toml'
            )
        judge = ModelJudge(route)
    return Dependencies(embedder=embedder, judge=judge), notes
