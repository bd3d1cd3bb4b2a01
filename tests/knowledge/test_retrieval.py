"""Retrieval quality on the shipped corpus, on SQLite and PostgreSQL: recall@5 of vector, keyword
and hybrid search. Hybrid must not lose to either; the figures are printed for the record."""

from __future__ import annotations

import pytest

from homeport.knowledge.embeddings import get_embedder
from homeport.knowledge.search import Mode, search
from homeport.store.models.knowledge import VectorStore
from tests.knowledge.conftest import Knowledge
from tests.knowledge.corpus import DOCUMENTS, QUESTIONS


def recall_at(knowledge: Knowledge, store: VectorStore, mode: Mode, k: int = 5) -> float:
    embedder = get_embedder(knowledge.services.settings.knowledge)
    found = 0
    with knowledge.services.db.session() as session:
        for question, answer in QUESTIONS:
            hits = search(
                session,
                stores=[store],
                embedder=embedder,
                queries=[question],
                max_results=k,
                mode=mode,
            )
            found += answer in {hit.filename for hit in hits}
    return found / len(QUESTIONS)


def test_corpus_shape() -> None:
    assert len(DOCUMENTS) == 30
    assert len(QUESTIONS) == 40
    assert {answer for _, answer in QUESTIONS} <= set(DOCUMENTS)


def test_hybrid_recall_is_at_least_vector_and_keyword(
    knowledge: Knowledge, capsys: pytest.CaptureFixture[str]
) -> None:
    store = knowledge.store({name: text.encode() for name, text in DOCUMENTS.items()})
    modes: tuple[Mode, ...] = ("vector", "keyword", "hybrid")
    recall = {mode: recall_at(knowledge, store, mode) for mode in modes}
    with capsys.disabled():
        print(f"\nrecall@5 on {knowledge.services.db.dialect}: {recall}")
    assert recall["hybrid"] >= recall["vector"]
    assert recall["hybrid"] >= recall["keyword"]
    assert recall["hybrid"] >= 0.9
