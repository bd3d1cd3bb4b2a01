"""The comparator plugin contract: one small base class, capability flags, one method.

A comparator looks at the baseline's and the candidate's answer to the same turn and returns a
``Verdict`` (``same``, ``different`` or ``unsure``) or ``None`` when it has nothing to say (a tool
comparator on a turn without tool calls). Built-ins and third-party comparators register the same
way: an entry point in the ``homeport.comparators`` group naming the class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Protocol

from homeport.compare.answers import Answer, TurnContext, Verdict


class Embedder(Protocol):
    """Turns texts into vectors; the local model by default, any implementation in a test."""

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class Judge(Protocol):
    """A model asked whether answer A says the same as answer B to the question."""

    def same(self, question: str, first: str, second: str) -> bool: ...


@dataclass(frozen=True)
class Dependencies:
    """What dear comparators need; a comparator whose need is missing is left out of a pipeline."""

    embedder: Embedder | None = None
    judge: Judge | None = None


class Comparator(ABC):
    name: ClassVar[str]
    #: Run order, cheap first: the pipeline stops at the first sure verdict.
    cost: ClassVar[int]
    needs_embedder: ClassVar[bool] = False
    needs_judge: ClassVar[bool] = False

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps

    @classmethod
    def usable_with(cls, deps: Dependencies) -> bool:
        return (not cls.needs_embedder or deps.embedder is not None) and (
            not cls.needs_judge or deps.judge is not None
        )

    @abstractmethod
    def compare(self, baseline: Answer, candidate: Answer, context: TurnContext) -> Verdict | None:
        """Judge one pair, or return ``None`` when this comparator does not apply."""
