"""Each comparator on pairs whose verdict is known, the pipeline's order, and plugin loading."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from homeport.compare.answers import Answer, Outcome, ToolCall, TurnContext, Verdict
from homeport.compare.comparators.base import Comparator, Dependencies
from homeport.compare.comparators.embedding import EmbeddingComparator, KnowledgeEmbedder
from homeport.compare.comparators.exact import ExactComparator
from homeport.compare.comparators.failure import FailureComparator, is_refusal
from homeport.compare.comparators.judge import JudgeComparator
from homeport.compare.comparators.structure import StructureComparator
from homeport.compare.comparators.tools import ToolCallComparator
from homeport.compare.pipeline import Pipeline, comparator_classes
from homeport.errors import InvalidRequest
from homeport.knowledge.settings import KnowledgeSettings

NO_DEPS = Dependencies()
PLAIN = TurnContext(question="Where is my order?")
TRIAGE = TurnContext(
    response_format={
        "type": "json_schema",
        "json_schema": {
            "name": "triage",
            "strict": True,
            "schema": {
                "type": "object",
                "required": ["category", "priority", "summary"],
                "properties": {
                    "category": {"type": "string", "enum": ["billing", "shipping"]},
                    "priority": {"type": "string", "enum": ["low", "high"]},
                    "summary": {"type": "string"},
                },
            },
        },
    }
)


def triage(category: str, priority: str, summary: str) -> Answer:
    return Answer(text=json.dumps({"category": category, "priority": priority, "summary": summary}))


def outcome(
    comparator: Comparator, a: Answer, b: Answer, context: TurnContext = PLAIN
) -> Outcome | None:
    verdict = comparator.compare(a, b, context)
    return None if verdict is None else verdict.outcome


def test_exact_ignores_whitespace_case_and_citations() -> None:
    exact = ExactComparator(NO_DEPS)
    assert (
        outcome(exact, Answer(text="It  shipped.【4:0†manual.md】"), Answer(text="it shipped."))
        is Outcome.SAME
    )
    assert outcome(exact, Answer(text="It shipped."), Answer(text="It did not ship.")) is None


@pytest.mark.parametrize(
    ("baseline", "candidate", "expected"),
    [
        (Answer(text="Sure."), Answer(text="Of course."), None),
        (Answer(text="Sure."), Answer(error="http 500"), Outcome.DIFFERENT),
        (Answer(error="http 500"), Answer(error="timeout"), Outcome.SAME),
        (
            Answer(text="Sure."),
            Answer(text="I'm sorry, but I can't help with that."),
            Outcome.DIFFERENT,
        ),
        (Answer(text="I cannot assist with that."), Answer(refusal="Not allowed."), Outcome.SAME),
    ],
)
def test_failure_and_refusal(baseline: Answer, candidate: Answer, expected: Outcome | None) -> None:
    assert outcome(FailureComparator(NO_DEPS), baseline, candidate) is expected


def test_refusal_detection() -> None:
    assert is_refusal(Answer(text="I\u2019m sorry, I can\u2019t help with that request."))
    assert not is_refusal(Answer(text="Sorry for the wait! Your order shipped."))


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (triage("billing", "high", "Double charge on the card."), Outcome.SAME),
        (triage("billing", "high", "The customer was charged twice."), None),
        (triage("shipping", "high", "Double charge on the card."), Outcome.DIFFERENT),
        (triage("refund", "high", "Double charge on the card."), Outcome.DIFFERENT),  # schema
        (Answer(text="billing, high"), Outcome.DIFFERENT),  # not JSON
    ],
)
def test_structure_against_the_agents_schema(candidate: Answer, expected: Outcome | None) -> None:
    baseline = triage("billing", "high", "Double charge on the card.")
    assert outcome(StructureComparator(NO_DEPS), baseline, candidate, TRIAGE) is expected


def test_structure_only_for_json_agents() -> None:
    assert outcome(StructureComparator(NO_DEPS), Answer(text="{}"), Answer(text="x")) is None


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ([ToolCall("get_order_status", '{ "order_id": "lu-10001" }')], Outcome.SAME),
        ([ToolCall("cancel_order", '{"order_id": "LU-10001"}')], Outcome.DIFFERENT),
        ([ToolCall("get_order_status", '{"order_id": "LU-99999"}')], Outcome.DIFFERENT),
        ([], Outcome.DIFFERENT),
    ],
)
def test_tool_trajectory_and_arguments(candidate: list[ToolCall], expected: Outcome) -> None:
    baseline = Answer(tool_calls=(ToolCall("get_order_status", '{"order_id": "LU-10001"}'),))
    got = outcome(ToolCallComparator(NO_DEPS), baseline, Answer(tool_calls=tuple(candidate)))
    assert got is expected


def test_parallel_calls_compare_as_a_set() -> None:
    a, b = ToolCall("a", '{"x": 1}'), ToolCall("b", '{"y": 2.0}')
    got = outcome(
        ToolCallComparator(NO_DEPS),
        Answer(tool_calls=(a, b)),
        Answer(tool_calls=(ToolCall("b", '{"y": 2}'), a)),
    )
    assert got is Outcome.SAME


@pytest.fixture(scope="module")
def local_embedder() -> KnowledgeEmbedder:
    return KnowledgeEmbedder(KnowledgeSettings())


def test_embedding_similarity_with_the_local_model(local_embedder: KnowledgeEmbedder) -> None:
    comparator = EmbeddingComparator(Dependencies(embedder=local_embedder))
    close = comparator.compare(
        Answer(text="Your order LU-10001 has shipped and should arrive in two to three days."),
        Answer(text="Order LU-10001 has shipped; it should arrive within 2-3 days."),
        PLAIN,
    )
    far = comparator.compare(
        Answer(text="Your order LU-10001 has shipped and should arrive in two to three days."),
        Answer(text="To reset the thermostat, hold the dial for ten seconds."),
        PLAIN,
    )
    assert close is not None and close.outcome is Outcome.SAME
    assert far is not None and far.outcome is Outcome.DIFFERENT
    assert close.score is not None and far.score is not None and close.score > far.score


class _ScriptedJudge:
    """Answers by position, to show that both orders are asked."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    def same(self, question: str, first: str, second: str) -> bool:
        self.asked.append((first, second))
        return self.answers[len(self.asked) - 1]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([True, True], Outcome.SAME),
        ([False, False], Outcome.DIFFERENT),
        ([True, False], Outcome.UNSURE),
    ],
)
def test_judge_asks_both_orders(answers: list[bool], expected: Outcome) -> None:
    judge = _ScriptedJudge(answers)
    verdict = JudgeComparator(Dependencies(judge=judge)).compare(
        Answer(text="A"), Answer(text="B"), PLAIN
    )
    assert verdict is not None and verdict.outcome is expected
    assert judge.asked == [("A", "B"), ("B", "A")]


def test_pipeline_runs_cheap_first_and_stops_at_the_first_sure_verdict() -> None:
    judge = _ScriptedJudge([False, False])
    pipeline = Pipeline.build(Dependencies(judge=judge))
    assert pipeline.names == ["exact", "failure", "structure", "tools", "judge"]
    same = pipeline.judge(Answer(text="Hi"), Answer(text="hi"), PLAIN)
    assert (same.outcome, same.decided_by) == (Outcome.SAME, "exact")
    assert judge.asked == []
    different = pipeline.judge(Answer(text="Hi"), Answer(text="Bye"), PLAIN)
    assert (different.outcome, different.decided_by) == (Outcome.DIFFERENT, "judge")


def test_pipeline_without_a_sure_comparator_is_unsure() -> None:
    judgement = Pipeline.build(NO_DEPS).judge(Answer(text="Hi"), Answer(text="Bye"), PLAIN)
    assert judgement.outcome is Outcome.UNSURE and judgement.decided_by is None


def test_named_comparators_and_their_needs() -> None:
    assert Pipeline.build(NO_DEPS, ["tools", "exact"]).names == ["exact", "tools"]
    with pytest.raises(InvalidRequest, match="needs an embedding model"):
        Pipeline.build(NO_DEPS, ["embedding"])
    with pytest.raises(InvalidRequest, match="unknown comparator 'nope'"):
        Pipeline.build(NO_DEPS, ["nope"])


class LengthComparator(Comparator):
    """A plugin as a third party would write it."""

    name: ClassVar[str] = "length"
    cost: ClassVar[int] = 4

    def compare(self, baseline: Answer, candidate: Answer, context: TurnContext) -> Verdict | None:
        if abs(len(baseline.text) - len(candidate.text)) > 100:
            return Verdict(self.name, Outcome.DIFFERENT, "lengths differ")
        return None


def test_plugins_register_through_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    point = EntryPoint("length", f"{__name__}:LengthComparator", "homeport.comparators")
    monkeypatch.setattr(
        "homeport.compare.pipeline.entry_points",
        lambda group: [point] if group == "homeport.comparators" else [],
    )
    assert comparator_classes()["length"] is LengthComparator
    pipeline = Pipeline.build(NO_DEPS)
    assert pipeline.names == ["exact", "failure", "structure", "tools", "length"]
    verdict = pipeline.judge(Answer(text="ok"), Answer(text="x" * 200), PLAIN)
    assert verdict.decided_by == "length"
