"""Comparators in cost order; the first sure verdict decides a pair.

Built-ins and plugins load the same way: a ``module:Class`` reference, from ``BUILTINS`` or from
an entry point in the ``homeport.comparators`` group. A pair on which no comparator is sure counts
as ``unsure``, which the statistics treat as a disagreement: the noise floor is measured with the
same pipeline, so an undecidable pair costs the candidate nothing it does not also cost the
baseline.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points

from homeport.compare.answers import Answer, Judgement, Outcome, TurnContext, Verdict
from homeport.compare.comparators.base import Comparator, Dependencies
from homeport.errors import InvalidRequest

ENTRY_POINT_GROUP = "homeport.comparators"
BUILTINS = {
    "exact": "homeport.compare.comparators.exact:ExactComparator",
    "failure": "homeport.compare.comparators.failure:FailureComparator",
    "structure": "homeport.compare.comparators.structure:StructureComparator",
    "tools": "homeport.compare.comparators.tools:ToolCallComparator",
    "embedding": "homeport.compare.comparators.embedding:EmbeddingComparator",
    "judge": "homeport.compare.comparators.judge:JudgeComparator",
}


def _load(reference: str) -> type[Comparator]:
    module, _, attribute = reference.partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    if not (isinstance(cls, type) and issubclass(cls, Comparator)):
        raise InvalidRequest(f"{reference} is not a homeport Comparator")
    return cls


def comparator_classes() -> dict[str, type[Comparator]]:
    """Every registered comparator by name: the built-ins, then installed plugins."""
    references = dict(BUILTINS)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        references[point.name] = point.value
    return {name: _load(reference) for name, reference in references.items()}


class Pipeline:
    def __init__(self, comparators: Iterable[Comparator]) -> None:
        self.comparators = sorted(comparators, key=lambda c: c.cost)

    @classmethod
    def build(cls, deps: Dependencies, names: Iterable[str] | None = None) -> Pipeline:
        """The named comparators (all usable ones when ``names`` is None).

        Asking by name for one whose dependency is missing is an error; by default such ones are
        simply left out (no embedder installed, no judge configured).
        """
        classes = comparator_classes()
        if names is None:
            return cls(c(deps) for c in classes.values() if c.usable_with(deps))
        chosen = []
        for name in names:
            if name not in classes:
                known = ", ".join(sorted(classes))
                raise InvalidRequest(f"unknown comparator {name!r}: choose from {known}")
            if not classes[name].usable_with(deps):
                need = "an embedding model" if classes[name].needs_embedder else "--judge-model"
                raise InvalidRequest(f"comparator {name!r} needs {need}")
            chosen.append(classes[name](deps))
        return cls(chosen)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.comparators]

    def judge(self, baseline: Answer, candidate: Answer, context: TurnContext) -> Judgement:
        verdicts: list[Verdict] = []
        for comparator in self.comparators:
            verdict = comparator.compare(baseline, candidate, context)
            if verdict is None:
                continue
            verdicts.append(verdict)
            if verdict.outcome is not Outcome.UNSURE:
                return Judgement(verdict.outcome, comparator.name, tuple(verdicts))
        return Judgement(Outcome.UNSURE, None, tuple(verdicts))
