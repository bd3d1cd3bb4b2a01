"""Errors and refusals: one side failing or refusing while the other answers is a difference."""

from __future__ import annotations

import re

from homeport.compare.answers import Answer, Outcome, TurnContext, Verdict
from homeport.compare.comparators.base import Comparator

_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry)?[,.!\s]*(but\s+)?"
    r"(i\s+(can(?:no|')t|cannot|am unable to|won'?t|am not able to)\s+"
    r"(help|assist|comply|provide|do that|answer|fulfil))",
    re.IGNORECASE,
)


def is_refusal(answer: Answer) -> bool:
    return answer.refusal is not None or bool(_REFUSAL.search(answer.text.replace("\u2019", "'")))


def _state(answer: Answer) -> str:
    if answer.error is not None:
        return f"error ({answer.error})"
    if is_refusal(answer):
        return "refusal"
    return "answer"


class FailureComparator(Comparator):
    name = "failure"
    cost = 1

    def compare(self, baseline: Answer, candidate: Answer, context: TurnContext) -> Verdict | None:
        before, after = _state(baseline), _state(candidate)
        if before == after == "answer":
            return None
        if before.split()[0] == after.split()[0]:
            return Verdict(self.name, Outcome.SAME, f"both sides: {before}", 1.0)
        return Verdict(self.name, Outcome.DIFFERENT, f"baseline {before}, candidate {after}", 0.0)
