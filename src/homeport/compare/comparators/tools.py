"""Tool calls: the trajectory (which tools, how many) and the arguments each was called with.

Calls are compared as a multiset, since parallel calls have no meaningful order. Arguments are
compared as parsed JSON with strings normalised (case, surrounding space), so ``{"id": "A1"}`` and
``{ "id":"a1" }`` agree.
"""

from __future__ import annotations

import json
from typing import Any

from homeport.compare.answers import Answer, Outcome, ToolCall, TurnContext, Verdict
from homeport.compare.comparators.base import Comparator


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _key(call: ToolCall) -> str:
    try:
        arguments = _canonical(json.loads(call.arguments or "{}"))
    except ValueError:
        arguments = call.arguments.strip()
    return json.dumps([call.name, arguments], sort_keys=True)


class ToolCallComparator(Comparator):
    name = "tools"
    cost = 3

    def compare(self, baseline: Answer, candidate: Answer, context: TurnContext) -> Verdict | None:
        if not baseline.tool_calls and not candidate.tool_calls:
            return None
        before = sorted(call.name for call in baseline.tool_calls)
        after = sorted(call.name for call in candidate.tool_calls)
        if before != after:
            return Verdict(self.name, Outcome.DIFFERENT, f"trajectory {before} vs {after}", 0.0)
        left = sorted(_key(call) for call in baseline.tool_calls)
        right = sorted(_key(call) for call in candidate.tool_calls)
        if left != right:
            diff = sorted(set(left) ^ set(right))
            return Verdict(self.name, Outcome.DIFFERENT, f"arguments differ: {diff}", 0.5)
        if baseline.text.strip() or candidate.text.strip():
            return None
        return Verdict(self.name, Outcome.SAME, f"same calls: {before}", 1.0)
