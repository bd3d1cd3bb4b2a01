"""OpenAI's attribute filters for vector store search: comparison filters (``eq``, ``ne``,
``gt``, ``gte``, ``lt``, ``lte``, ``in``, ``nin``) and compound filters (``and``, ``or``).

Filters are checked once (``check_filter``, a 400 naming the bad part) and then evaluated against
each vector store file's ``attributes``. A comparison on a missing key or on values of different
kinds is false (``ne`` and ``nin`` true), so a filter never fails at search time.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from homeport.errors import InvalidRequest

Scalar = str | int | float | bool
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")


def check_filter(spec: Any, param: str = "filters") -> None:
    if not isinstance(spec, dict):
        raise InvalidRequest(f"Invalid type for '{param}': expected an object.", param=param)
    kind = spec.get("type")
    if kind in ("and", "or"):
        filters = spec.get("filters")
        if not isinstance(filters, list) or not filters:
            raise InvalidRequest(
                f"Invalid value for '{param}.filters': expected a non-empty array of filters.",
                param=f"{param}.filters",
            )
        for index, sub in enumerate(filters):
            check_filter(sub, f"{param}.filters[{index}]")
        return
    if kind not in COMPARISONS:
        raise InvalidRequest(
            f"Invalid value for '{param}.type': expected one of "
            f"{', '.join((*COMPARISONS, 'and', 'or'))}.",
            param=f"{param}.type",
        )
    if not isinstance(spec.get("key"), str):
        raise InvalidRequest(f"Missing required parameter: '{param}.key'.", param=f"{param}.key")
    value = spec.get("value")
    if kind in ("in", "nin"):
        if not isinstance(value, list) or not all(isinstance(v, Scalar) for v in value):
            raise InvalidRequest(
                f"Invalid value for '{param}.value': '{kind}' needs an array of strings or "
                "numbers.",
                param=f"{param}.value",
            )
    elif not isinstance(value, Scalar):
        raise InvalidRequest(
            f"Invalid value for '{param}.value': expected a string, number or boolean.",
            param=f"{param}.value",
        )


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return type(a) is type(b)


def matches(spec: dict[str, Any], attributes: dict[str, Any]) -> bool:
    kind = spec["type"]
    if kind == "and":
        return all(matches(sub, attributes) for sub in spec["filters"])
    if kind == "or":
        return any(matches(sub, attributes) for sub in spec["filters"])
    value = spec["value"]
    if spec["key"] not in attributes:
        return kind in ("ne", "nin")
    actual = attributes[spec["key"]]
    if kind in ("in", "nin"):
        found = any(_same_kind(actual, v) and actual == v for v in value)
        return found if kind == "in" else not found
    if kind in ("eq", "ne"):
        equal = _same_kind(actual, value) and actual == value
        return equal if kind == "eq" else not equal
    if not _same_kind(actual, value) or isinstance(actual, bool):
        return False
    return _ORDER[kind](actual, value)
