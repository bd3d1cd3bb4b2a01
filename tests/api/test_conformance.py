"""docs/conformance.md matches the spec, homeport's routes and the API tests."""

from __future__ import annotations

import re

from tests.support.conformance import DOC, render


def test_conformance_doc_is_current() -> None:
    assert DOC.read_text() == render(), (
        "docs/conformance.md is stale: run '.venv/bin/python -m tests.support.conformance'"
    )


def test_assistants_threads_and_messages_are_served_and_tested() -> None:
    table = render()
    for surface, operations in (("Assistants", 5), ("Threads", 4), ("Messages", 5)):
        assert re.search(rf"^\| {surface} \| {operations} \| {operations} \| {operations} \|$",
                         table, re.M), surface  # fmt: skip
