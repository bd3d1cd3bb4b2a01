"""Attribute filters as OpenAI's comparison and compound filters."""

from __future__ import annotations

from typing import Any

import pytest

from homeport.errors import InvalidRequest
from homeport.knowledge.filters import check_filter, matches

ATTRS: dict[str, Any] = {"team": "support", "year": 2024, "score": 4.5, "draft": False}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "eq", "key": "team", "value": "support"}, True),
        ({"type": "eq", "key": "year", "value": 2024.0}, True),
        ({"type": "ne", "key": "team", "value": "sales"}, True),
        ({"type": "gt", "key": "year", "value": 2023}, True),
        ({"type": "gte", "key": "score", "value": 4.5}, True),
        ({"type": "lt", "key": "score", "value": 4}, False),
        ({"type": "lte", "key": "year", "value": 2024}, True),
        ({"type": "in", "key": "team", "value": ["sales", "support"]}, True),
        ({"type": "nin", "key": "team", "value": ["support"]}, False),
        ({"type": "eq", "key": "draft", "value": False}, True),
        ({"type": "eq", "key": "draft", "value": 0}, False),
        ({"type": "gt", "key": "team", "value": 3}, False),
        ({"type": "eq", "key": "missing", "value": "x"}, False),
        ({"type": "ne", "key": "missing", "value": "x"}, True),
        (
            {
                "type": "and",
                "filters": [
                    {"type": "eq", "key": "team", "value": "support"},
                    {"type": "gt", "key": "year", "value": 2030},
                ],
            },
            False,
        ),
        (
            {
                "type": "or",
                "filters": [
                    {"type": "eq", "key": "team", "value": "x"},
                    {"type": "and", "filters": [{"type": "eq", "key": "draft", "value": False}]},
                ],
            },
            True,
        ),
    ],
)
def test_matches(spec: dict[str, Any], expected: bool) -> None:
    check_filter(spec)
    assert matches(spec, ATTRS) is expected


@pytest.mark.parametrize(
    ("spec", "param"),
    [
        ({"type": "like", "key": "a", "value": 1}, "filters.type"),
        ({"type": "eq", "value": 1}, "filters.key"),
        ({"type": "in", "key": "a", "value": "x"}, "filters.value"),
        ({"type": "eq", "key": "a", "value": {"x": 1}}, "filters.value"),
        ({"type": "and", "filters": []}, "filters.filters"),
        ({"type": "or", "filters": [{"type": "eq", "key": "a"}]}, "filters.filters[0].value"),
    ],
)
def test_bad_filters_name_the_bad_part(spec: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as bad:
        check_filter(spec)
    assert bad.value.param == param
