"""Structured output: validity against the agent's JSON schema, then the fields that must agree.

Only agents with a JSON ``response_format`` are checked. A candidate that breaks the schema the
baseline kept is different. When both are valid, keys, numbers, booleans and short strings
(labels, enum values: three words or fewer) must match; longer strings are free text and are left
to the later comparators.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from homeport.compare.answers import Answer, Outcome, TurnContext, Verdict
from homeport.compare.comparators.base import Comparator

_LABEL_WORDS = 3


def json_contract(response_format: Any) -> tuple[bool, dict[str, Any] | None]:
    """(wants JSON, schema or None) for an Assistants ``response_format`` or a Responses
    ``text.format``."""
    if not isinstance(response_format, dict):
        return False, None
    kind = response_format.get("type")
    if kind == "json_object":
        return True, None
    if kind == "json_schema":
        inner = response_format.get("json_schema", response_format)
        schema = inner.get("schema") if isinstance(inner, dict) else None
        return True, schema if isinstance(schema, dict) else None
    return False, None


def _parse(text: str, schema: dict[str, Any] | None) -> tuple[Any, str | None]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg}"
    if schema is not None:
        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as exc:
            return None, f"breaks the schema: {exc.message}"
    return value, None


def _leaves(value: Any, path: str = "$") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{path}.{key}"))
        return out
    if isinstance(value, list):
        out = {f"{path}.#": len(value)}
        for index, item in enumerate(value):
            out.update(_leaves(item, f"{path}[{index}]"))
        return out
    return {path: value}


def _is_label(value: Any) -> bool:
    return not isinstance(value, str) or len(value.split()) <= _LABEL_WORDS


class StructureComparator(Comparator):
    name = "structure"
    cost = 2

    def compare(self, baseline: Answer, candidate: Answer, context: TurnContext) -> Verdict | None:
        wants_json, schema = json_contract(context.response_format)
        if not wants_json or baseline.tool_calls or candidate.tool_calls:
            return None
        before, before_problem = _parse(baseline.text, schema)
        after, after_problem = _parse(candidate.text, schema)
        if before_problem and after_problem:
            return None
        if after_problem:
            return Verdict(self.name, Outcome.DIFFERENT, f"candidate {after_problem}", 0.0)
        if before_problem:
            return Verdict(self.name, Outcome.DIFFERENT, f"baseline {before_problem}", 0.0)
        left, right = _leaves(before), _leaves(after)
        if left.keys() != right.keys():
            changed = sorted(left.keys() ^ right.keys())
            detail = f"fields differ: {', '.join(changed)}"
            return Verdict(self.name, Outcome.DIFFERENT, detail, 0.0)
        free_text = False
        for path, value in left.items():
            other = right[path]
            if _is_label(value) and _is_label(other):
                if _norm(value) != _norm(other):
                    return Verdict(
                        self.name, Outcome.DIFFERENT, f"{path}: {value!r} vs {other!r}", 0.0
                    )
            elif value != other:
                free_text = True
        if free_text:
            return None
        return Verdict(self.name, Outcome.SAME, "same fields and values", 1.0)


def _norm(value: Any) -> Any:
    return value.strip().casefold() if isinstance(value, str) else value
