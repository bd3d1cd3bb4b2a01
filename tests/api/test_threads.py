"""Threads through the official SDK against a live homeport, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from sqlalchemy import func, select

from homeport.store.models import Conversation, Item, Project
from homeport.store.repos import conversations, items
from tests.support.servers import HomeportServer

# OpenAI marks the Assistants API deprecated; the SDK warns on every call.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(deprecated|The Assistants API is deprecated):DeprecationWarning"
)


def test_create_with_messages_retrieve_modify_delete(
    client: openai.OpenAI, homeport: HomeportServer
) -> None:
    doc, one, two = (
        client.files.create(file=(f"{name}.txt", b"text"), purpose="assistants").id
        for name in ("doc", "one", "two")
    )
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "What is 2 + 2?", "metadata": {"n": "1"}},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "4"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            },
            {
                "role": "user",
                "content": "See the file.",
                "attachments": [{"file_id": doc, "tools": [{"type": "file_search"}]}],
            },
        ],
        tool_resources={"code_interpreter": {"file_ids": [one, two]}},
        metadata={"user": "u1"},
    )
    assert thread.id.startswith("thread_") and thread.object == "thread"
    assert thread.metadata == {"user": "u1"}
    assert thread.tool_resources is not None
    assert thread.tool_resources.code_interpreter is not None
    assert thread.tool_resources.code_interpreter.file_ids == [one, two]

    messages = list(client.beta.threads.messages.list(thread.id, order="asc"))
    assert [m.role for m in messages] == ["user", "assistant", "user"]
    assert all(m.thread_id == thread.id and m.status == "completed" for m in messages)
    first, second, third = messages
    assert first.content[0].type == "text"
    assert first.content[0].text.value == "What is 2 + 2?"  # type: ignore[union-attr]
    assert first.metadata == {"n": "1"}
    assert [part.type for part in second.content] == ["text", "image_url"]
    assert third.attachments is not None and third.attachments[0].file_id == doc

    assert client.beta.threads.retrieve(thread.id) == thread
    store = client.vector_stores.create(name="kb")
    modified = client.beta.threads.update(
        thread.id,
        metadata={"user": "u2"},
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    assert modified.metadata == {"user": "u2"}
    assert modified.tool_resources is not None
    assert modified.tool_resources.file_search is not None
    assert modified.tool_resources.file_search.vector_store_ids == [store.id]
    assert client.beta.threads.retrieve(thread.id) == modified
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.update(
            thread.id, tool_resources={"file_search": {"vector_store_ids": ["vs_1"]}}
        )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "tool_resources.file_search.vector_store_ids[0]"
    assert client.beta.threads.retrieve(thread.id) == modified

    deleted = client.beta.threads.delete(thread.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (thread.id, True, "thread.deleted")
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.retrieve(thread.id)
    assert caught.value.message.endswith(f"No thread found with id '{thread.id}'.")
    with homeport.services.db.session() as session:
        left = session.scalar(
            select(func.count()).select_from(Item).where(Item.conversation_id == thread.id)
        )
    assert left == 0  # the messages went with the thread


def test_vector_stores_helper_is_all_or_nothing(
    client: openai.OpenAI, homeport: HomeportServer
) -> None:
    upload = client.files.create(file=("a.txt", b"alpha"), purpose="assistants")
    thread = client.beta.threads.create(
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [upload.id]}]}}
    )
    assert thread.tool_resources is not None and thread.tool_resources.file_search is not None
    [store_id] = thread.tool_resources.file_search.vector_store_ids or []
    assert client.vector_stores.retrieve(store_id).id == store_id

    with pytest.raises(openai.NotFoundError):
        client.beta.threads.create(
            messages=[{"role": "user", "content": "lost?"}],
            tool_resources={"file_search": {"vector_stores": [{"file_ids": ["file_missing"]}]}},
        )
    with homeport.services.db.session() as session:
        threads = session.scalar(select(func.count()).select_from(Conversation))
        stray = session.scalar(
            select(func.count()).select_from(Item).where(Item.content.is_not(None))
        )
    assert (threads, stray) == (1, 0)  # the failed create left nothing behind


def test_unknown_files_are_a_404(client: openai.OpenAI, homeport: HomeportServer) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.create(
            messages=[
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b", "attachments": [{"file_id": "file_nope"}]},
            ]
        )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "messages[1].attachments[0].file_id"
    thread = client.beta.threads.create()
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.update(
            thread.id, tool_resources={"code_interpreter": {"file_ids": ["file_nope"]}}
        )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "tool_resources.code_interpreter.file_ids[0]"
    assert client.beta.threads.retrieve(thread.id) == thread
    with homeport.services.db.session() as session:
        counts = [session.scalar(select(func.count()).select_from(m)) for m in (Conversation, Item)]
    assert counts == [1, 0]


def test_empty_thread(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    assert thread.metadata == {} and thread.tool_resources is not None
    assert list(client.beta.threads.messages.list(thread.id)) == []


def test_a_conversation_reads_as_a_thread(client: openai.OpenAI, homeport: HomeportServer) -> None:
    """One state model: a ``conv_`` conversation with Responses-style items is a thread."""
    with homeport.services.db.session() as session:
        project = session.scalar(select(Project).where(Project.name == "default"))
        assert project is not None
        conv = conversations.create_conversation(session, project_id=project.id, prefix="conv")
        items.add_item(
            session, project_id=project.id, type="message", conversation_id=conv.id,
            role="user", content=[{"type": "input_text", "text": "hello"}],
        )  # fmt: skip
        items.add_item(
            session, project_id=project.id, type="function_call", conversation_id=conv.id,
            data={"call_id": "call_1", "name": "f", "arguments": "{}"},
        )  # fmt: skip
        items.add_item(
            session, project_id=project.id, type="message", conversation_id=conv.id,
            role="assistant",
            content=[{
                "type": "output_text", "text": "hi there",
                "annotations": [{"type": "file_citation", "file_id": "file_9", "index": 2,
                                 "filename": "a.txt"}],
            }],
        )  # fmt: skip
        conv_id = conv.id
    assert client.beta.threads.retrieve(conv_id).id == conv_id
    messages = list(client.beta.threads.messages.list(conv_id, order="asc"))
    assert [m.role for m in messages] == ["user", "assistant"]  # the function call is no message
    text = messages[1].content[0]
    assert text.type == "text"
    assert text.text.value == "hi there"  # type: ignore[union-attr]
    citation = text.text.annotations[0]  # type: ignore[union-attr]
    assert citation.type == "file_citation"
    assert citation.file_citation.file_id == "file_9"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": []}]}, "messages[0].content"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"metadata": {str(i): "v" for i in range(17)}}, "metadata"),
        ({"tool_resources": {"file_search": {"vector_store_ids": ["a", "b"]}}}, "tool_resources"),
        (
            {"tool_resources": {"file_search": {"vector_store_ids": ["a"], "vector_stores": [{}]}}},
            "tool_resources",
        ),
        ({"messages": "hello"}, "messages"),
    ],
)
def test_invalid_create_is_a_400(client: openai.OpenAI, body: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.create(extra_body=body)
    error = caught.value.body
    assert isinstance(error, dict)
    assert str(error["param"]).startswith(param)


def test_modify_and_delete_missing_thread(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.update("thread_missing", metadata={})
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.delete("thread_missing")


def test_projects_are_isolated(client: openai.OpenAI, other_project: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "private"}])
    for call in (
        lambda: other_project.beta.threads.retrieve(thread.id),
        lambda: other_project.beta.threads.update(thread.id, metadata={"x": "y"}),
        lambda: other_project.beta.threads.delete(thread.id),
        lambda: other_project.beta.threads.messages.list(thread.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert client.beta.threads.retrieve(thread.id).metadata == {}


def test_admin_keeps_original_ids(client: openai.OpenAI, admin: openai.OpenAI) -> None:
    headers = {"homeport-object-id": "thread_imported1", "homeport-created-at": "1690000000"}
    thread = admin.beta.threads.create(
        messages=[{"role": "user", "content": "old"}], extra_headers=headers
    )
    assert (thread.id, thread.created_at) == ("thread_imported1", 1690000000)
    [message] = client.beta.threads.messages.list(thread.id)
    assert message.created_at == 1690000000
    # A conversation ID is a thread ID too.
    conv = admin.beta.threads.create(extra_headers={"homeport-object-id": "conv_imported1"})
    assert client.beta.threads.retrieve("conv_imported1").id == conv.id
    with pytest.raises(openai.ConflictError):
        admin.beta.threads.create(extra_headers=headers)
    with pytest.raises(openai.PermissionDeniedError):
        client.beta.threads.create(extra_headers=headers)
