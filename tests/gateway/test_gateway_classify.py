"""Request classification by method and path."""

from __future__ import annotations

from homeport.gateway.classify import Scope, classify


def test_stateless_and_model_calls() -> None:
    chat = classify("POST", "/v1/chat/completions")
    assert chat.scope is Scope.STATELESS and chat.model_call
    assert classify("GET", "/v1/models").scope is Scope.STATELESS
    assert classify("POST", "/v1/embeddings").model_call is False
    assert classify("GET", "/healthz").scope is Scope.STATELESS


def test_conversation_scoped_paths_carry_their_key() -> None:
    run = classify("POST", "/v1/threads/thread_abc/runs")
    assert (run.scope, run.key, run.model_call) == (Scope.CONVERSATION, "thread_abc", True)
    submit = classify("POST", "/v1/threads/thread_abc/runs/run_1/submit_tool_outputs")
    assert submit.model_call and submit.key == "thread_abc"
    message = classify("POST", "/v1/threads/thread_abc/messages")
    assert message.write and not message.model_call
    assert classify("GET", "/v1/threads/thread_abc/messages").write is False
    response = classify("GET", "/v1/responses/resp_1/input_items")
    assert (response.scope, response.key) == (Scope.CONVERSATION, "resp_1")
    items = classify("POST", "/v1/conversations/conv_1/items")
    assert (items.scope, items.key) == (Scope.CONVERSATION, "conv_1")


def test_creations_name_their_pin_kind() -> None:
    assert classify("POST", "/v1/threads").creates == "thread"
    create_and_run = classify("POST", "/v1/threads/runs")
    assert create_and_run.creates == "thread" and create_and_run.model_call
    assert classify("POST", "/v1/conversations").creates == "conversation"
    responses = classify("POST", "/v1/responses")
    assert responses.creates == "response" and responses.model_call


def test_shared_objects() -> None:
    upload = classify("POST", "/v1/files")
    assert (upload.scope, upload.shared_kind, upload.write) == (Scope.SHARED, "file", True)
    assert classify("DELETE", "/v1/assistants/asst_1").write
    assert classify("GET", "/v1/vector_stores/vs_1").write is False
