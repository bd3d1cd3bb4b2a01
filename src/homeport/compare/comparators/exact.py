"""Exact comparison after normalising what never matters: whitespace, case, citation markers."""

from __future__ import annotations

import re

from homeport.compare.answers import Answer, Outcome, TurnContext, Verdict
from homeport.compare.comparators.base import Comparator

# File-search citation markers differ between deployments even for the same source.
_CITATION = re.compile(r"【[^】]*】|\[\d+(?::\d+)?†[^\]]*\]")
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    return _SPACE.sub(" ", _CITATION.sub("", text)).strip().casefold()


class ExactComparator(Comparator):
    name = "exact"
    cost = 0

    def compare(self, baseline: Answer, candidate: Answer, context: TurnContext) -> Verdict | None:
        same_calls = [(c.name, c.arguments) for c in baseline.tool_calls] == [
            (c.name, c.arguments) for c in candidate.tool_calls
        ]
        if (
            baseline.error is None
            and candidate.error is None
            and same_calls
            and normalize_text(baseline.text) == normalize_text(candidate.text)
        ):
            return Verdict(self.name, Outcome.SAME, "identical after normalisation", 1.0)
        return None
