"""The contract validator itself: it must accept OpenAI's objects and reject wrong ones."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.spec import _nullable, spec_path, validate, validate_response

ASSISTANT: dict[str, Any] = {
    "id": "asst_abc",
    "object": "assistant",
    "created_at": 1700000000,
    "name": None,
    "description": None,
    "model": "gpt-4o-mini",
    "instructions": None,
    "tools": [],
    "metadata": {},
    "top_p": 1.0,
    "temperature": 1.0,
    "response_format": "auto",
}


def test_nullable_becomes_a_type_union() -> None:
    assert _nullable({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert _nullable({"type": "string", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    assert _nullable({"$ref": "#/x", "nullable": True}) == {
        "anyOf": [{"$ref": "#/x"}, {"type": "null"}]
    }
    assert _nullable({"items": [{"nullable": False, "type": "integer"}]}) == {
        "items": [{"type": "integer"}]
    }


def test_accepts_a_valid_object_with_nulls() -> None:
    validate("AssistantObject", ASSISTANT)


def test_rejects_wrong_type_and_missing_field() -> None:
    with pytest.raises(AssertionError, match="created_at"):
        validate("AssistantObject", {**ASSISTANT, "created_at": "yesterday"})
    missing = {k: v for k, v in ASSISTANT.items() if k != "tools"}
    with pytest.raises(AssertionError, match="'tools' is a required property"):
        validate("AssistantObject", missing)
    with pytest.raises(KeyError, match="NoSuchThing"):
        validate("NoSuchThing", {})


def test_paths_match_templates_and_skip_beta_duplicates() -> None:
    assert spec_path("/v1/assistants/asst_abc") == "/assistants/{assistant_id}"
    assert spec_path("/threads/runs") == "/threads/runs"
    assert spec_path("/threads/thread_1/runs/run_1") == "/threads/{thread_id}/runs/{run_id}"
    assert spec_path("/responses?beta=true") == "/responses"
    with pytest.raises(KeyError):
        spec_path("/nothing/here")


def test_validate_response_uses_the_operation_schema() -> None:
    validate_response("/v1/assistants/asst_abc", "GET", 200, ASSISTANT)
    deleted = {"id": "asst_abc", "object": "assistant.deleted", "deleted": True}
    validate_response("/assistants/{assistant_id}", "delete", 200, deleted)
    with pytest.raises(AssertionError, match=re.escape("DELETE /assistants/{assistant_id} 200")):
        validate_response("/assistants/asst_abc", "delete", 200, {**deleted, "deleted": "yes"})
    with pytest.raises(KeyError, match="no PUT"):
        validate_response("/assistants/asst_abc", "put", 200, {})
