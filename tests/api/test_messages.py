"""Thread messages through the official SDK against a live homeport, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from sqlalchemy import event, select

from homeport.store.models import Project, Run
from homeport.store.repos import items
from tests.support.servers import HomeportServer

# OpenAI marks the Assistants API deprecated; the SDK warns on every call.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(deprecated|The Assistants API is deprecated):DeprecationWarning"
)


@pytest.fixture
def thread_id(client: openai.OpenAI) -> str:
    return client.beta.threads.create().id


def _project_id(homeport: HomeportServer) -> str:
    with homeport.services.db.session() as session:
        project_id = session.scalar(select(Project.id).where(Project.name == "default"))
    assert project_id is not None
    return project_id


def test_create_retrieve_modify_delete(client: openai.OpenAI, thread_id: str) -> None:
    upload = client.files.create(file=("doc.txt", b"a document"), purpose="assistants")
    image = client.files.create(file=("a.png", b"\x89PNG\r\n\x1a\n"), purpose="vision")
    message = client.beta.threads.messages.create(
        thread_id,
        role="user",
        content=[
            {"type": "text", "text": "Describe these."},
            {"type": "image_file", "image_file": {"file_id": image.id, "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}},
        ],
        attachments=[
            {
                "file_id": upload.id,
                "tools": [{"type": "code_interpreter"}, {"type": "file_search"}],
            }
        ],
        metadata={"source": "test"},
    )
    assert message.id.startswith("msg_") and message.object == "thread.message"
    assert (message.thread_id, message.role, message.status) == (thread_id, "user", "completed")
    assert message.assistant_id is None and message.run_id is None
    assert message.completed_at is not None and message.incomplete_at is None
    assert [part.type for part in message.content] == ["text", "image_file", "image_url"]
    assert message.content[1].image_file.detail == "low"  # type: ignore[union-attr]
    assert message.attachments is not None
    assert [t.type for t in message.attachments[0].tools or []] == [
        "code_interpreter",
        "file_search",
    ]

    assert client.beta.threads.messages.retrieve(message.id, thread_id=thread_id) == message
    modified = client.beta.threads.messages.update(
        message.id, thread_id=thread_id, metadata={"source": "edited"}
    )
    assert modified.metadata == {"source": "edited"}
    assert modified.content == message.content

    deleted = client.beta.threads.messages.delete(message.id, thread_id=thread_id)
    assert (deleted.id, deleted.deleted, deleted.object) == (
        message.id,
        True,
        "thread.message.deleted",
    )
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.messages.retrieve(message.id, thread_id=thread_id)
    assert caught.value.message.endswith(f"No message found with id '{message.id}'.")


def test_list_pages_orders_and_cursors(client: openai.OpenAI, thread_id: str) -> None:
    ids = [
        client.beta.threads.messages.create(thread_id, role="user", content=f"m{i}").id
        for i in range(5)
    ]
    messages = client.beta.threads.messages
    assert [m.id for m in messages.list(thread_id, limit=2)] == ids[::-1]
    assert [m.id for m in messages.list(thread_id, limit=2, order="asc")] == ids
    page = messages.list(thread_id, limit=2, order="desc", after=ids[3])
    assert [m.id for m in page.data] == [ids[2], ids[1]] and page.has_more
    page = messages.list(thread_id, limit=2, order="desc", before=ids[0])
    assert [m.id for m in page.data] == [ids[2], ids[1]]
    with pytest.raises(openai.BadRequestError):
        messages.list(thread_id, limit=101)
    with pytest.raises(openai.BadRequestError):
        messages.list(thread_id, order="sideways")  # type: ignore[arg-type]


def test_run_id_filter(client: openai.OpenAI, thread_id: str, homeport: HomeportServer) -> None:
    client.beta.threads.messages.create(thread_id, role="user", content="question")
    project_id = _project_id(homeport)
    with homeport.services.db.session() as session:
        answer = items.add_item(
            session, project_id=project_id, type="message", conversation_id=thread_id,
            role="assistant", agent_id="asst_1", run_id="run_1",
            content=[{"type": "text", "text": {"value": "answer", "annotations": []}}],
        )  # fmt: skip
        answer_id = answer.id
    [only] = client.beta.threads.messages.list(thread_id, run_id="run_1")
    assert (only.id, only.assistant_id, only.run_id) == (answer_id, "asst_1", "run_1")
    assert len(client.beta.threads.messages.list(thread_id).data) == 2


def test_messages_belong_to_their_thread(client: openai.OpenAI, thread_id: str) -> None:
    message = client.beta.threads.messages.create(thread_id, role="user", content="hi")
    elsewhere = client.beta.threads.create().id
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(message.id, thread_id=elsewhere)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.delete(message.id, thread_id=elsewhere)
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.messages.create("thread_missing", role="user", content="hi")
    assert caught.value.message.endswith("No thread found with id 'thread_missing'.")


def test_no_new_messages_while_a_run_is_active(
    client: openai.OpenAI, thread_id: str, homeport: HomeportServer
) -> None:
    project_id = _project_id(homeport)
    with homeport.services.db.session() as session:
        session.add(
            Run(id="run_busy", project_id=project_id, kind="run", conversation_id=thread_id,
                status="in_progress", model="gpt-4o", required_action=None, last_error=None,
                incomplete_details=None, usage=None)
        )  # fmt: skip
    statements: list[str] = []
    listen = event.listens_for(homeport.services.db.engine, "before_cursor_execute")
    listen(lambda *args: statements.append(args[2]))
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.messages.create(thread_id, role="user", content="more")
    assert caught.value.message.endswith(
        f"Can't add messages to {thread_id} while a run run_busy is active."
    )
    # The thread and its active run come in one read (one round trip on PostgreSQL).
    reads = [s for s in statements if "FROM conversations" in s or "FROM runs" in s]
    assert len(reads) == 1 and "active_run" in reads[0]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"role": "system", "content": "x"}, "role"),
        ({"role": "user", "content": []}, "content"),
        ({"role": "user", "content": [{"type": "audio", "audio": "x"}]}, "content"),
        ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]},
         "content"),
        ({"role": "user", "content": "x", "attachments": [{"file_id": "f",
          "tools": [{"type": "function"}]}]}, "attachments[0].tools[0]"),
        ({"role": "user", "content": "x", "metadata": {"k": "v" * 513}}, "metadata"),
    ],
)  # fmt: skip
def test_invalid_create_is_a_400(
    client: openai.OpenAI, thread_id: str, body: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post(f"/threads/{thread_id}/messages", body=body, cast_to=object)
    error = caught.value.body
    assert isinstance(error, dict)
    assert str(error["param"]).startswith(param)


def test_unknown_attachment_file_is_a_404(client: openai.OpenAI, thread_id: str) -> None:
    upload = client.files.create(file=("doc.txt", b"a document"), purpose="assistants")
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.messages.create(
            thread_id,
            role="user",
            content="two files",
            attachments=[
                {"file_id": upload.id, "tools": [{"type": "file_search"}]},
                {"file_id": "file_nope", "tools": [{"type": "file_search"}]},
            ],
        )
    assert caught.value.body == {
        "message": "No such File object: file_nope",
        "type": "invalid_request_error",
        "param": "attachments[1].file_id",
        "code": None,
    }
    assert client.beta.threads.messages.list(thread_id).data == []


def test_unknown_image_file_is_a_404_and_a_known_one_is_kept(
    client: openai.OpenAI, thread_id: str
) -> None:
    image = client.files.create(file=("chart.png", b"\x89PNG\r\n\x1a\n"), purpose="vision")
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.messages.create(
            thread_id,
            role="user",
            content=[
                {"type": "text", "text": "compare these"},
                {"type": "image_file", "image_file": {"file_id": image.id}},
                {"type": "image_file", "image_file": {"file_id": "file_gone"}},
            ],
        )
    assert caught.value.body == {
        "message": "No such File object: file_gone",
        "type": "invalid_request_error",
        "param": "content[2].image_file.file_id",
        "code": None,
    }
    assert client.beta.threads.messages.list(thread_id).data == []
    kept = client.beta.threads.messages.create(
        thread_id,
        role="user",
        content=[{"type": "image_file", "image_file": {"file_id": image.id, "detail": "low"}}],
    )
    part = kept.content[0]
    assert part.type == "image_file" and part.image_file.file_id == image.id


def test_projects_are_isolated(
    client: openai.OpenAI, other_project: openai.OpenAI, thread_id: str
) -> None:
    message = client.beta.threads.messages.create(thread_id, role="user", content="mine")
    with pytest.raises(openai.NotFoundError):
        other_project.beta.threads.messages.retrieve(message.id, thread_id=thread_id)
    with pytest.raises(openai.NotFoundError):
        other_project.beta.threads.messages.create(thread_id, role="user", content="theirs")


def test_admin_keeps_original_ids(
    admin: openai.OpenAI, client: openai.OpenAI, thread_id: str
) -> None:
    headers = {"homeport-object-id": "msg_imported1", "homeport-created-at": "1600000000"}
    message = admin.beta.threads.messages.create(
        thread_id, role="user", content="old", extra_headers=headers
    )
    assert (message.id, message.created_at) == ("msg_imported1", 1600000000)
    newer = client.beta.threads.messages.create(thread_id, role="user", content="new")
    listed = client.beta.threads.messages.list(thread_id, order="asc")
    assert [m.id for m in listed] == ["msg_imported1", newer.id]
    with pytest.raises(openai.ConflictError):
        admin.beta.threads.messages.create(
            thread_id, role="user", content="again", extra_headers=headers
        )
