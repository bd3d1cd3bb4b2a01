"""Rollback with ``on_rollback = "evacuate"``, end to end: a real gateway in front of two homeport
servers with separate databases (the "managed" one assigns its own IDs, as managed platforms do).

Conversations start on homeport in canary; the rollback moves them to the managed side by
replaying their transcripts; the same client then continues the same thread, conversation and
response-chain IDs and is answered by the managed side, whose model receives the whole history,
while runs and responses made before the move still read back from homeport. The evacuation
survives a crash midway (rerun: nothing duplicated), and every move is in the audit log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import orjson
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.compare.comparators.base import Dependencies
from homeport.compare.pipeline import Pipeline
from homeport.config import ConfigError
from homeport.gateway.routing import hash_share
from homeport.rollout.collect import StoreEvidence
from homeport.rollout.controller import Controller
from homeport.rollout.evacuate import DONE, EVACUATED, SWITCHED, Evacuator
from homeport.rollout.plan import RolloutPlan
from homeport.rollout.state import current, decisions
from homeport.rollout.transcripts import CARRIER_INSTRUCTIONS, ThreadTranscript
from homeport.store.db import Database
from homeport.store.migrate import upgrade
from homeport.store.models import Conversation, Item, Run
from homeport.store.models.gateway import GatewayIdMap, GatewayPin
from homeport.store.models.rollout import RolloutEvacuation
from homeport.testing.scripted_model import ScriptedModelServer
from tests.gateway.conftest import (  # noqa: F401 - fixtures used by name
    GatewayFactory,
    GatewayServer,
    candidate_model,
    candidate_options,
    managed_model,
    start_gateway,
    two_homeports,
    wait_for,
)
from tests.rollout.conftest import FakeClock
from tests.support.servers import HomeportServer

pytestmark = pytest.mark.slow

KEY = "homeport-conversation-key"
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}},
    },
}


@dataclass
class Cutover:
    db: Database
    gateway: GatewayServer
    managed: HomeportServer
    homeport: HomeportServer
    managed_model: ScriptedModelServer
    controller: Controller
    salt: str

    def keys(self, side: str, count: int, prefix: str) -> list[str]:
        """Conversation keys the canary (weight 0.5) assigns to ``side``."""
        found = []
        for n in range(1000):
            key = f"{prefix}-{n}"
            if (hash_share(self.salt, key) < 0.5) == (side == "homeport"):
                found.append(key)
                if len(found) == count:
                    return found
        raise AssertionError("no keys")

    def evacuator(self, **options: Any) -> Evacuator:
        return Evacuator(
            self.db,
            "default",
            homeport=self.homeport.client(admin=True),
            managed=self.managed.client(admin=True),
            run_wait_seconds=0.3,
            settle_seconds=0.2,
            poll_seconds=0.05,
            **options,
        )

    def managed_containers(self) -> int:
        """Threads and conversations in the managed side's own database."""
        with self.managed.services.db.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Conversation)) or 0)

    def managed_carriers(self) -> dict[str, str]:
        """Chain response -> the live carrier that continues it on the managed side (each
        carrier made is checked to exist there, once)."""
        with self.db.sessions() as session:
            rows = session.execute(
                select(GatewayIdMap.target_id, GatewayIdMap.source_id).where(
                    GatewayIdMap.kind == "response"
                )
            )
            mapped = {r.target_id: r.source_id for r in rows}
        with self.managed.services.db.sessions() as session:
            made = session.scalars(
                select(Run.id).where(Run.instructions == CARRIER_INSTRUCTIONS)
            ).all()
        assert len(made) == len(set(made)) and set(made) == set(mapped)
        return {mapped[carrier]: carrier for carrier in made}

    def homeport_objects(self) -> tuple[int, int]:
        """Responses and runs, and items, in homeport's own database."""
        with self.homeport.services.db.sessions() as session:
            runs = session.scalar(select(func.count()).select_from(Run))
            items = session.scalar(select(func.count()).select_from(Item))
        return int(runs or 0), int(items or 0)

    def healthz(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(self.gateway.url + "/healthz").json()
        return data


@pytest.fixture
def cutover(
    database_url: str,
    start_gateway: GatewayFactory,  # noqa: F811
    two_homeports: tuple[HomeportServer, HomeportServer],  # noqa: F811
    managed_model: ScriptedModelServer,  # noqa: F811
) -> Iterator[Cutover]:
    managed, homeport = two_homeports
    db = Database(database_url)
    upgrade(db.engine)
    plan = RolloutPlan(
        steps=[50, 100],
        bake_seconds=600,
        min_turns=10,
        min_conversations=5,
        on_rollback="evacuate",
        evacuation={"managed_base_url": managed.base_url, "homeport_base_url": homeport.base_url},
    )
    holder: list[Cutover] = []
    controller = Controller(
        db,
        plan,
        "default",
        StoreEvidence(db, Pipeline.build(Dependencies())),
        clock=FakeClock(time.time()),
        evacuate=lambda: holder[0].evacuator().run(),
    )
    controller.promote("ops", "canary at 50 %")
    row = current(db, "default")
    assert row is not None
    gateway = start_gateway(
        routing="store",
        refresh_seconds=0.05,
        shadow={"sink": "none"},
        managed={"base_url": managed.base_url, "api_key": managed.admin_key},
        homeport={"base_url": homeport.base_url, "api_key": homeport.admin_key},
    )
    holder.append(Cutover(db, gateway, managed, homeport, managed_model, controller, row.salt))
    wait_for(lambda: holder[0].healthz()["weight"] == 0.5, "the gateway to follow the rollout")
    yield holder[0]
    db.dispose()


def turn(client: openai.OpenAI, thread_id: str, assistant_id: str, text: str) -> tuple[str, str]:
    """One user message and a run; (the side that served, the assistant's reply)."""
    raw = client.beta.threads.messages.with_raw_response.create(
        thread_id, role="user", content=text
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=20
    )
    assert run.status == "completed", run.last_error
    reply = client.beta.threads.messages.list(thread_id, order="desc", limit=1).data[0]
    block = reply.content[0]
    assert block.type == "text"
    return raw.headers["homeport-upstream"], block.text.value


def new_thread(client: openai.OpenAI, key: str) -> tuple[str, str]:
    raw = client.beta.threads.with_raw_response.create(extra_headers={KEY: key})
    return raw.parse().id, raw.headers["homeport-upstream"]


def new_conversation(client: openai.OpenAI, key: str, texts: list[str]) -> tuple[str, str]:
    raw = client.conversations.with_raw_response.create(extra_headers={KEY: key})
    conversation = raw.parse().id
    for text in texts:
        client.responses.create(model="scripted", conversation=conversation, input=text)
    return conversation, raw.headers["homeport-upstream"]


def test_rollback_evacuates_and_clients_keep_their_ids(cutover: Cutover) -> None:
    client = cutover.gateway.client()
    assistant = client.beta.assistants.create(model="scripted", name="support")
    threads = {}
    for key in cutover.keys("homeport", 3, "thread"):
        thread_id, side = new_thread(client, key)
        assert side == "homeport"
        for text in ("first question", "second question"):
            assert turn(client, thread_id, assistant.id, text)[0] == "homeport"
        threads[thread_id] = [m.id for m in client.beta.threads.messages.list(thread_id)][::-1]
    stays, side = new_thread(client, cutover.keys("managed", 1, "thread")[0])
    assert side == "managed"
    conversations = {}
    for key in cutover.keys("homeport", 2, "conversation"):
        conversation, side = new_conversation(client, key, ["alpha words", "beta words"])
        assert side == "homeport"
        conversations[conversation] = [
            i.id for i in client.conversations.items.list(conversation, order="asc")
        ]
    # A response chain (previous_response_id, no conversation): its transcript is carried over.
    chain_key = {KEY: cutover.keys("homeport", 3, "conversation")[-1]}
    chain = client.responses.create(model="scripted", input="chain", extra_headers=chain_key)
    chain = client.responses.create(
        model="scripted", input="chain link", previous_response_id=chain.id
    )
    first_thread = next(iter(threads))
    old_runs = [r.id for r in client.beta.threads.runs.list(first_thread)]
    # A run waiting for the client's tool outputs when the rollback comes: cancelled after the
    # bounded wait, then the thread moves.
    tools = client.beta.assistants.create(model="scripted", tools=[LOOKUP])  # type: ignore[list-item]
    waiting, _ = new_thread(client, cutover.keys("homeport", 4, "thread")[-1])
    client.beta.threads.messages.create(
        waiting, role="user", content='[[call lookup {"order": 7}]]'
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=waiting, assistant_id=tools.id, poll_interval_ms=20
    )
    assert run.status == "requires_action"
    containers = cutover.managed_containers()

    cutover.controller.rollback("ops", "incident")

    log = decisions(cutover.db, "default")
    moved = {d.evidence["homeport_id"]: d.evidence for d in log if d.action == EVACUATED}
    root = client.responses.retrieve(chain.id).previous_response_id
    assert set(moved) == {*threads, *conversations, waiting, root}
    summary = log[-1]
    assert summary.action == "evacuate" and summary.evidence["complete"]
    assert summary.evidence["moved"] == len(moved) == 7
    assert [d.action for d in log][:2] == ["start", "rollback"]
    assert moved[root]["last"] == chain.id and moved[root]["responses"] == 2
    assert moved[first_thread]["at_home"] == len(old_runs) == 2
    for thread_id in threads:
        assert moved[thread_id]["messages"] == moved[thread_id]["replayed"] == 4
        assert moved[thread_id]["managed_id"] != thread_id
    assert moved[waiting]["runs_cancelled"] == 1
    for conversation in conversations:
        assert moved[conversation]["items"] == 4  # two inputs, two answers
    # One new container on the managed side per thread and conversation moved, none twice.
    assert cutover.managed_containers() == containers + 6
    wait_for(lambda: cutover.healthz()["mode"] == "passthrough", "passthrough after evacuation")

    for thread_id, before in threads.items():
        side, reply = turn(client, thread_id, assistant.id, "third question")
        assert (side, reply) == ("managed", "[managed] Echo: third question")
        # The managed side's model received the transcript replayed from homeport.
        history = orjson.dumps(cutover.managed_model.model.requests[-1]).decode()
        for earlier in ("first question", "[homeport] Echo: second question"):
            assert earlier in history
        listed = client.beta.threads.messages.list(thread_id, order="asc").data
        assert [m.id for m in listed][:4] == before  # the IDs the client already holds
        assert {m.thread_id for m in listed} == {thread_id}
        assert client.beta.threads.retrieve(thread_id).id == thread_id
        assert client.beta.threads.messages.retrieve(before[1], thread_id=thread_id).id == before[1]
        page = client.beta.threads.messages.list(thread_id, order="asc", after=before[1])
        assert [m.id for m in page.data][:2] == before[2:]
    for conversation, items in conversations.items():
        raw = client.responses.with_raw_response.create(
            model="scripted", conversation=conversation, input="gamma words"
        )
        response = raw.parse()
        assert raw.headers["homeport-upstream"] == "managed"
        assert response.output_text == "[managed] Echo: gamma words"
        assert response.conversation is not None and response.conversation.id == conversation
        assert (
            "[homeport] Echo: beta words"
            in orjson.dumps(cutover.managed_model.model.requests[-1]).decode()
        )
        listed = [i.id for i in client.conversations.items.list(conversation, order="asc")]
        assert listed[:4] == items and len(listed) == 6
        # The new response is pinned to the managed side and reads back with the client's IDs.
        again = client.responses.retrieve(response.id)
        assert again.conversation is not None and again.conversation.id == conversation
    assert turn(client, stays, assistant.id, "unchanged")[0] == "managed"
    # The chain goes on at the managed side from its newest response, with its whole history.
    raw = client.responses.with_raw_response.create(
        model="scripted", input="chain again", previous_response_id=chain.id
    )
    again = raw.parse()
    assert raw.headers["homeport-upstream"] == "managed"
    assert again.output_text == "[managed] Echo: chain again"
    assert again.previous_response_id == chain.id  # the managed carrier's ID is not seen
    history = orjson.dumps(cutover.managed_model.model.requests[-1]).decode()
    for earlier in ("chain link", "[homeport] Echo: chain"):
        assert earlier in history
    later = client.responses.create(model="scripted", input="and on", previous_response_id=again.id)
    assert later.output_text == "[managed] Echo: and on"
    # Responses and runs made before the move read back from homeport, as they finished.
    raw = client.responses.with_raw_response.retrieve(chain.id)
    assert raw.headers["homeport-upstream"] == "homeport"
    assert raw.parse().output_text == "[homeport] Echo: chain link"
    for run_id in old_runs:
        raw = client.beta.threads.runs.with_raw_response.retrieve(run_id, thread_id=first_thread)
        assert raw.headers["homeport-upstream"] == "homeport"
        assert raw.parse().status == "completed"
        assert client.beta.threads.runs.steps.list(run_id, thread_id=first_thread).data
    assert client.beta.threads.runs.retrieve(run.id, thread_id=waiting).status == "cancelled"
    side, _ = turn(client, waiting, assistant.id, "after the cancel")
    assert side == "managed"


def _texts(items: Any) -> list[str]:
    """The text of each message item, in order."""
    return [
        "".join(getattr(part, "text", "") for part in item.content)
        for item in items
        if item.type == "message"
    ]


def test_a_branch_from_an_older_response_of_a_moved_chain_goes_on_at_the_managed_side(
    cutover: Cutover,
) -> None:
    client = cutover.gateway.client()
    chain_key = {KEY: cutover.keys("homeport", 1, "branching")[0]}
    raw = client.responses.with_raw_response.create(
        model="scripted", input="one", extra_headers=chain_key
    )
    assert raw.headers["homeport-upstream"] == "homeport"
    ids = [raw.parse().id]
    for text in ("two", "three"):
        ids.append(
            client.responses.create(model="scripted", input=text, previous_response_id=ids[-1]).id
        )
    first, second, third = ids
    at_home = cutover.homeport_objects()

    cutover.controller.rollback("ops", "incident")

    moved = next(
        d.evidence
        for d in decisions(cutover.db, "default")
        if d.action == EVACUATED and d.evidence["homeport_id"] == first
    )
    assert (moved["last"], moved["responses"], moved["members"]) == (third, 3, 3)
    wait_for(lambda: cutover.healthz()["mode"] == "passthrough", "passthrough after evacuation")
    assert cutover.managed_carriers() == {third: moved["managed_id"]}

    # (a) The newest response goes on as before, from the evacuation's carrier.
    raw = client.responses.with_raw_response.create(
        model="scripted", input="four", previous_response_id=third
    )
    assert raw.headers["homeport-upstream"] == "managed"
    assert raw.parse().previous_response_id == third

    # (b) A branch from an older response: answered by the managed side, which was given the
    # chain up to that response and nothing after it; the client sees its own ID.
    raw = client.responses.with_raw_response.create(
        model="scripted", input="branch", previous_response_id=second
    )
    branch = raw.parse()
    assert raw.headers["homeport-upstream"] == "managed"
    assert branch.output_text == "[managed] Echo: branch"
    assert branch.previous_response_id == second
    carriers = cutover.managed_carriers()
    assert set(carriers) == {third, second}
    given = cutover.managed.client(admin=True).responses.input_items.list(
        carriers[second], order="asc"
    )
    assert _texts(given) == ["one", "[homeport] Echo: one", "two", "[homeport] Echo: two"]
    history = orjson.dumps(cutover.managed_model.model.requests[-1]).decode()
    assert "[homeport] Echo: two" in history and "three" not in history
    # The branch goes on at the managed side, and reads back there under its own ID.
    later = client.responses.create(model="scripted", input="on", previous_response_id=branch.id)
    assert later.previous_response_id == branch.id
    assert client.responses.retrieve(branch.id).output_text == "[managed] Echo: branch"

    # (c) Another branch from the same response reuses its carrier; the root gets its own.
    stream = client.responses.create(
        model="scripted", input="branch again", previous_response_id=second, stream=True
    )
    again = next(e for e in stream if e.type == "response.completed").response
    assert (again.previous_response_id, again.output_text) == (
        second,
        "[managed] Echo: branch again",
    )
    root = client.responses.create(model="scripted", input="anew", previous_response_id=first)
    assert root.previous_response_id == first
    now = cutover.managed_carriers()
    assert set(now) == {third, second, first} and now[second] == carriers[second]
    given = cutover.managed.client(admin=True).responses.input_items.list(now[first], order="asc")
    assert _texts(given) == ["one", "[homeport] Echo: one"]

    # (d) Nothing new reached homeport; the chain's own responses still read back there.
    assert cutover.homeport_objects() == at_home
    raw = client.responses.with_raw_response.retrieve(second)
    assert raw.headers["homeport-upstream"] == "homeport"
    assert raw.parse().output_text == "[homeport] Echo: two"


class CrashingThreads(ThreadTranscript):
    """The managed side takes the ``after``-th message, then the process dies before recording
    it (a ``BaseException``, as nothing in the job may catch it)."""

    def __init__(self, homeport: openai.OpenAI, managed: openai.OpenAI, after: int) -> None:
        super().__init__(homeport, managed)
        self.left = after

    def append(self, target: str, bodies: list[dict[str, Any]]) -> list[str]:
        created = super().append(target, bodies)
        self.left -= len(bodies)
        if self.left <= 0:
            raise Crash
        return created


class Crash(BaseException):
    pass


def test_a_crashed_evacuation_resumes_without_duplicates(cutover: Cutover) -> None:
    client = cutover.gateway.client()
    assistant = client.beta.assistants.create(model="scripted")
    threads = []
    for key in cutover.keys("homeport", 2, "thread"):
        thread_id, _ = new_thread(client, key)
        for text in ("one", "two"):
            turn(client, thread_id, assistant.id, text)
        threads.append(thread_id)
    # Deleted on homeport by its client: nothing to move, and it must not block the rest.
    deleted, _ = new_thread(client, cutover.keys("homeport", 3, "thread")[-1])
    client.beta.threads.delete(deleted)
    containers = cutover.managed_containers()
    # The job is driven by hand here; the process dies once the managed side has taken the
    # first thread's third message, before that message's new ID is recorded.
    evacuator = cutover.evacuator()
    evacuator.transcripts["thread"] = CrashingThreads(
        cutover.homeport.client(admin=True), cutover.managed.client(admin=True), after=3
    )
    with pytest.raises(Crash):
        evacuator.run()
    with cutover.db.sessions() as session:
        rows = {r.key: r for r in session.scalars(select(RolloutEvacuation))}
        pins = {p.key: p.side for p in session.scalars(select(GatewayPin))}
    assert rows[threads[0]].status == "copying" and rows[threads[0]].target is not None
    assert pins[threads[0]] == "homeport"  # not moved: the gateway still routes it to homeport
    assert turn(client, threads[0], assistant.id, "still here")[0] == "homeport"

    # The process also dies after moving the pins, before finishing (during the settle wait).
    def die_when_finishing(stage: str, done: int, total: int) -> None:
        if stage == "finish":
            raise Crash

    with pytest.raises(Crash):
        cutover.evacuator(progress=die_when_finishing).run()
    with cutover.db.sessions() as session:
        assert {r.status for r in session.scalars(select(RolloutEvacuation))} == {SWITCHED}

    result = cutover.evacuator().run()
    assert (result.moved, result.remaining, result.complete) == (3, 0, True)
    assert cutover.evacuator().run().moved == 0  # nothing left: a rerun is a no-op
    assert cutover.managed_containers() == containers + 2
    with cutover.db.sessions() as session:
        assert {r.status for r in session.scalars(select(RolloutEvacuation))} == {DONE}
    log = {
        d.evidence["homeport_id"]: d.evidence
        for d in decisions(cutover.db, "default")
        if d.action == EVACUATED
    }
    # The message the crash left unrecorded was found on the managed side, not sent again.
    assert log[threads[0]]["recovered"] == 1
    assert log[threads[0]]["replayed"] == log[threads[0]]["messages"] == 6
    assert log[deleted]["gone"]
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(deleted)
    for thread_id in threads:
        target = log[thread_id]["managed_id"]
        texts = [
            m.content[0].text.value  # type: ignore[union-attr]
            for m in cutover.managed.client(admin=True).beta.threads.messages.list(
                target, order="asc"
            )
        ]
        assert len(texts) == len(set(texts)) == (6 if thread_id == threads[0] else 4)
        side, reply = turn(client, thread_id, assistant.id, "three")
        assert (side, reply) == ("managed", "[managed] Echo: three")


def test_evacuate_needs_both_sides_in_the_plan() -> None:
    with pytest.raises(ValidationError, match=r"rollout\.evacuation\.managed_base_url"):
        RolloutPlan(on_rollback="evacuate")


def test_people_roll_back_and_evacuate_from_the_command_line(
    cutover: Cutover, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = cutover.gateway.client()
    assistant = client.beta.assistants.create(model="scripted")
    thread_id, _ = new_thread(client, cutover.keys("homeport", 1, "thread")[0])
    turn(client, thread_id, assistant.id, "one")
    env = {
        "HOMEPORT_DATABASE_URL": database_url,
        "HOMEPORT_ROLLOUT__ON_ROLLBACK": "evacuate",
        "HOMEPORT_ROLLOUT__EVACUATION__MANAGED_BASE_URL": cutover.managed.base_url,
        "HOMEPORT_ROLLOUT__EVACUATION__HOMEPORT_BASE_URL": cutover.homeport.base_url,
        "HOMEPORT_ROLLOUT__EVACUATION__SETTLE_SECONDS": "0.2",
        "HOMEPORT_GATEWAY_KEY": cutover.homeport.admin_key,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    # Without the managed side's key the rollback still happens; the evacuation names the key.
    result = runner.invoke(app, ["rollout", "rollback", "--reason", "incident"])
    assert isinstance(result.exception, ConfigError)  # main() prints it as one line
    assert "HOMEPORT_MANAGED_API_KEY" in str(result.exception)
    row = current(cutover.db, "default")
    assert row is not None and (row.status, row.weight) == ("rolled_back", 0.0)

    monkeypatch.setenv("HOMEPORT_MANAGED_API_KEY", cutover.managed.admin_key)
    result = runner.invoke(app, ["rollout", "evacuate", "--actor", "alice", "--json"])
    assert result.exit_code == 0, result.output
    decision = orjson.loads(result.stdout)
    assert (decision["action"], decision["actor"]) == ("evacuate", "alice")
    assert decision["evidence"]["moved"] == 1 and decision["evidence"]["complete"]
    assert turn(client, thread_id, assistant.id, "two")[0] == "managed"
    status = orjson.loads(runner.invoke(app, ["rollout", "status", "--json"]).stdout)
    assert status["mode"] == "passthrough"
    assert [d["action"] for d in status["decisions"]][-2:] == [EVACUATED, "evacuate"]
