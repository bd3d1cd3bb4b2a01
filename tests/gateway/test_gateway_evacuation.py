"""Evacuated conversations through the gateway: re-pins reach every replica through the pins
epoch, and clients keep the homeport IDs they stored (paths, cursors, bodies, streamed events)."""

from __future__ import annotations

import httpx
import pytest

from homeport.gateway.routing import hash_share
from homeport.gateway.translate import Translation
from homeport.rollout.evacuate import Evacuator
from homeport.rollout.state import locked
from homeport.store.db import Database
from tests.gateway.conftest import GatewayFactory, GatewayServer, wait_for
from tests.support.servers import HomeportServer


def test_requests_and_answers_are_translated_whole_ids_only() -> None:
    translation = Translation.of([("thread_home1", "thread_m9"), ("msg_a", "msg_longer_b")])
    path, query, body = translation.request(
        "/v1/threads/thread_home1/messages", "after=msg_a&order=asc", b'{"x": "thread_home12"}'
    )
    assert (path, query) == ("/v1/threads/thread_m9/messages", "after=msg_longer_b&order=asc")
    assert body == b'{"x": "thread_home12"}'  # another ID that merely starts the same way
    rewriter = translation.answer()
    answer = b'data: {"thread_id": "thread_m9", "id": "msg_longer_b"}\n\n'
    # Cut inside an ID: nothing is lost or missed at the chunk boundary.
    out = b"".join(rewriter.feed(answer[i : i + 7]) for i in range(0, len(answer), 7))
    assert out + rewriter.flush() == b'data: {"thread_id": "thread_home1", "id": "msg_a"}\n\n'


def _homeport_key(salt: str) -> str:
    return next(k for k in (f"k{n}" for n in range(100)) if hash_share(salt, k) < 0.5)


def _side(gateway: GatewayServer, path: str) -> str | None:
    raw = httpx.get(f"{gateway.url}{path}", headers={"authorization": "Bearer sk-client"})
    return raw.headers.get("homeport-upstream")


@pytest.mark.slow
def test_replicas_follow_a_move_and_keep_the_clients_ids(
    start_gateway: GatewayFactory,
    database_url: str,
    two_homeports: tuple[HomeportServer, HomeportServer],
) -> None:
    managed, homeport = two_homeports
    db = Database(database_url)
    with locked(db, "default", 0.0) as (_, row):
        row.mode, row.weight, row.phase, row.salt = "canary", 0.5, "canary-50", "s"
    sides = {
        "routing": "store",
        "refresh_seconds": 0.05,
        "managed": {"base_url": managed.base_url, "api_key": managed.admin_key},
        "homeport": {"base_url": homeport.base_url, "api_key": homeport.admin_key},
    }
    first, second = start_gateway(**sides), start_gateway(**sides)  # two replicas, one database
    key = {"homeport-conversation-key": _homeport_key("s")}
    with first.client() as client, second.client() as other:
        assistant = client.beta.assistants.create(model="scripted")
        thread = client.beta.threads.create(extra_headers=key)
        for text in ("one", "two"):
            client.beta.threads.runs.create_and_poll(
                thread_id=thread.id,
                assistant_id=assistant.id,
                additional_messages=[{"role": "user", "content": text}],
                poll_interval_ms=20,
            )
        conversation = client.conversations.create(extra_headers=key)
        client.responses.create(model="scripted", conversation=conversation.id, input="hello")
        before = [m.id for m in other.beta.threads.messages.list(thread.id, order="asc")]
        assert len(before) == 4  # both replicas now hold the thread's pin in their caches

        result = Evacuator(
            db,
            "default",
            homeport=homeport.client(admin=True),
            managed=managed.client(admin=True),
            settle_seconds=0.2,
        ).run()
        assert (result.moved, result.complete) == (2, True)
        for gateway in (first, second):
            for path in (f"/v1/threads/{thread.id}", f"/v1/conversations/{conversation.id}"):
                wait_for(lambda: _side(gateway, path) == "managed", f"{path} to move")  # noqa: B023

        # A streamed run on the other replica: every event names the client's thread ID.
        events = list(
            other.beta.threads.runs.create(
                thread_id=thread.id,
                assistant_id=assistant.id,
                additional_messages=[{"role": "user", "content": "three"}],
                stream=True,
            )
        )
        threads = {getattr(e.data, "thread_id", thread.id) for e in events}
        assert threads == {thread.id} and events[-1].event == "thread.run.completed"
        listed = other.beta.threads.messages.list(thread.id, order="asc").data
        assert [m.id for m in listed][:4] == before
        assert listed[-1].content[0].text.value == "[managed] Echo: three"  # type: ignore[union-attr]

        # A streamed response in the moved conversation, read back on the other replica, which
        # learns from the new pin (written by the first) that the conversation moved.
        stream = client.responses.create(
            model="scripted", conversation=conversation.id, input="again", stream=True
        )
        done = next(e for e in stream if e.type == "response.completed").response
        assert done.conversation is not None and done.conversation.id == conversation.id
        again = other.responses.retrieve(done.id)
        assert again.conversation is not None and again.conversation.id == conversation.id
        assert again.output_text == "[managed] Echo: again"
    db.dispose()
