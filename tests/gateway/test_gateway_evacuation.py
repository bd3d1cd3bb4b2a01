"""Evacuated conversations through the gateway: re-pins reach every replica through the pins
epoch, and clients keep the homeport IDs they stored (paths, cursors, bodies, streamed events);
a branch from an older response of a moved chain gets one carrier, whichever replicas race."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select

from homeport.gateway.carrier_intents import record_carrier
from homeport.gateway.routing import hash_share
from homeport.gateway.translate import CHAIN_MEMBER, Translation
from homeport.rollout.evacuate import EvacuationResult, Evacuator
from homeport.rollout.state import current, locked
from homeport.rollout.transcripts import CARRIER_INSTRUCTIONS
from homeport.store.db import Database
from homeport.store.migrate import upgrade
from homeport.store.models import Run
from homeport.store.models.gateway import GatewayIdMap
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


def _canary(
    database_url: str, managed: HomeportServer, homeport: HomeportServer
) -> tuple[Database, dict[str, Any]]:
    """The rollout in canary at 50 % (salt "s"), and the settings of gateway replicas that follow
    it in front of the two servers."""
    db = Database(database_url)
    with locked(db, "default", 0.0) as (_, row):
        row.mode, row.weight, row.phase, row.salt = "canary", 0.5, "canary-50", "s"
    sides = {
        "routing": "store",
        "refresh_seconds": 0.05,
        "managed": {"base_url": managed.base_url, "api_key": managed.admin_key},
        "homeport": {"base_url": homeport.base_url, "api_key": homeport.admin_key},
    }
    return db, sides


def _evacuate(db: Database, managed: HomeportServer, homeport: HomeportServer) -> EvacuationResult:
    return Evacuator(
        db,
        "default",
        homeport=homeport.client(admin=True),
        managed=managed.client(admin=True),
        settle_seconds=0.2,
    ).run()


@pytest.mark.slow
def test_replicas_follow_a_move_and_keep_the_clients_ids(
    start_gateway: GatewayFactory,
    database_url: str,
    two_homeports: tuple[HomeportServer, HomeportServer],
) -> None:
    managed, homeport = two_homeports
    db, sides = _canary(database_url, managed, homeport)
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

        result = _evacuate(db, managed, homeport)
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


def test_a_carried_branch_point_is_translated_both_ways() -> None:
    translation = Translation.of(
        [("resp_new", "resp_carrier1")], at_home=["resp_new", "resp_old"], uncarried=["resp_old"]
    )
    assert translation.needs_carrier("resp_old") and not translation.needs_carrier(None)
    carried = translation.carried("resp_old", "resp_carrier2")
    assert not carried.needs_carrier("resp_old") and translation.needs_carrier("resp_old")
    _, _, body = carried.request("/v1/responses", "", b'{"previous_response_id": "resp_old"}')
    assert body == b'{"previous_response_id": "resp_carrier2"}'
    rewriter = carried.answer()
    assert rewriter.feed(b'{"previous_response_id": "resp_carrier2"}\n') == (
        b'{"previous_response_id": "resp_old"}\n'
    )
    assert carried.stays_home("/v1/responses/resp_old")  # it reads back on homeport


def test_the_first_carrier_recorded_wins(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db.engine)
    with db.session() as session:
        session.add(
            GatewayIdMap(
                source_id="resp_b", target_id="resp_b", kind=CHAIN_MEMBER, conversation="resp_a"
            )
        )
    assert record_carrier(db, "resp_b", "resp_m1") == "resp_m1"
    assert record_carrier(db, "resp_b", "resp_m2") == "resp_m1"  # the loser takes the winner's
    with db.sessions() as session:
        row = session.scalars(select(GatewayIdMap).where(GatewayIdMap.source_id == "resp_b")).one()
    assert (row.kind, row.target_id) == ("response", "resp_m1")
    db.dispose()


def _carriers(managed: HomeportServer) -> list[str]:
    with managed.services.db.sessions() as session:
        return list(
            session.scalars(select(Run.id).where(Run.instructions == CARRIER_INSTRUCTIONS)).all()
        )


@pytest.mark.slow
def test_replicas_branching_from_one_older_response_share_one_carrier(
    start_gateway: GatewayFactory,
    database_url: str,
    two_homeports: tuple[HomeportServer, HomeportServer],
) -> None:
    managed, homeport = two_homeports
    db, sides = _canary(database_url, managed, homeport)
    replicas = [start_gateway(**sides), start_gateway(**sides)]
    # A replica with no key of its own for the managed side: the client's key passes through.
    passing = start_gateway(**{**sides, "managed": {"base_url": managed.base_url}})
    with replicas[0].client() as client:
        ids = [
            client.responses.create(
                model="scripted",
                input="one",
                extra_headers={"homeport-conversation-key": _homeport_key("s")},
            ).id
        ]
        for text in ("two", "three"):
            ids.append(
                client.responses.create(
                    model="scripted", input=text, previous_response_id=ids[-1]
                ).id
            )
    result = _evacuate(db, managed, homeport)
    assert (result.moved, result.complete) == (1, True)
    state = current(db, "default")
    assert state is not None
    for gateway in (*replicas, passing):
        wait_for(
            lambda: gateway.gateway.pins.epoch >= state.pins_epoch,  # noqa: B023
            "the replicas to follow the move",
        )
    assert len(_carriers(managed)) == 1  # the evacuation's, for the newest response

    # The managed side refuses the client's key: the client gets the refusal as an OpenAI error
    # object naming the side, and nothing is recorded (the next request tries again).
    with passing.client() as client, pytest.raises(openai.AuthenticationError) as refusal:
        client.responses.create(model="scripted", input="no", previous_response_id=ids[1])
    assert refusal.value.response.headers["homeport-upstream"] == "managed"
    error = refusal.value.body
    assert isinstance(error, dict) and error["param"] == "previous_response_id"
    assert error["message"].startswith(f"The managed side could not take response {ids[1]} over")
    assert len(_carriers(managed)) == 1
    # With a key the managed side knows, the same replica carries the chain's first response.
    with openai.OpenAI(
        base_url=passing.base_url, api_key=managed.admin_key, max_retries=0
    ) as client:
        raw = client.responses.with_raw_response.create(
            model="scripted", input="anew", previous_response_id=ids[0]
        )
    assert raw.headers["homeport-upstream"] == "managed"
    assert raw.parse().previous_response_id == ids[0]
    assert len(_carriers(managed)) == 2

    # Two requests on each replica at once: one carrier is made (or a racing loser's is deleted).
    def branch(n: int) -> tuple[str, str | None, str]:
        with replicas[n % 2].client() as client:
            raw = client.responses.with_raw_response.create(
                model="scripted", input=f"branch {n}", previous_response_id=ids[1]
            )
        answer = raw.parse()
        return raw.headers["homeport-upstream"], answer.previous_response_id, answer.output_text

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(branch, range(4)))
    assert answers == [("managed", ids[1], f"[managed] Echo: branch {n}") for n in range(4)]
    with db.sessions() as session:
        row = session.scalars(select(GatewayIdMap).where(GatewayIdMap.source_id == ids[1])).one()
    assert row.kind == "response"
    carriers = _carriers(managed)
    assert len(carriers) == 3 and row.target_id in carriers
    outcomes = Counter[str]()
    for gateway in (*replicas, passing):
        for sample in gateway.gateway.metrics.carriers.collect()[0].samples:
            if sample.name.endswith("_total"):
                outcomes[sample.labels["outcome"]] += int(sample.value)
    # ids[0]'s on the passing replica and ids[1]'s winner; the other replica lost or found it.
    assert outcomes["refused"] == 1 and outcomes["made"] == 2
    assert outcomes["raced"] + outcomes["found"] <= 1
    db.dispose()
