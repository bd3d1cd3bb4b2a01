"""AgentCore Memory events: exported by bedrock-agents (on botocore's own bedrock-agentcore
service model, every call and response checked by ``Stubber``), imported into the store with
their IDs, idempotently, and reconciled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import select, update

from homeport.bundle import BundleWriter, open_bundle
from homeport.config import Settings
from homeport.importer import import_bundle
from homeport.reconcile import reconcile
from homeport.services import Services
from homeport.sources.base import ExportContext
from homeport.sources.bedrock_agents import BedrockAgentsOptions, BedrockAgentsSource
from homeport.store.models.memories import MemoryEvent

MEMORY = "support_memory-a1B2c3D4e5"
START = datetime(2025, 7, 1, 9, 30, tzinfo=UTC)
SESSIONS = {"customer-17": ["s-1", "s-2"], "customer-42": ["s-1"]}
"""Actor -> its sessions; two actors share a session ID, which only the full key tells apart."""


def _events(actor: str, session: str) -> list[dict[str, Any]]:
    turns = [
        ("USER", f"{actor}: my parcel has not arrived"),
        ("ASSISTANT", "I am sorry. Which order is it? 📦"),
        ("USER", "LU-0042"),
    ]
    events: list[dict[str, Any]] = []
    for n, (role, text) in enumerate(turns):
        stamp = START + timedelta(milliseconds=250 * n)  # several events in one second
        events.append(
            {
                "memoryId": MEMORY,
                "actorId": actor,
                "sessionId": session,
                "eventId": f"{int(stamp.timestamp() * 1000)}#{n:016x}",
                "eventTimestamp": stamp,
                "payload": [{"conversational": {"content": {"text": text}, "role": role}}],
                "branch": {"name": "main"},
            }
        )
    events.append(
        {
            "memoryId": MEMORY,
            "actorId": actor,
            "sessionId": session,
            "eventId": f"{int(START.timestamp() * 1000) + 900}#{'f' * 16}",
            "eventTimestamp": START + timedelta(milliseconds=900),
            "payload": [{"blob": {"order": "LU-0042", "state": ["packed", "shipped"]}}],
            "branch": {"name": "refund", "rootEventId": events[0]["eventId"]},
            "metadata": {"channel": {"stringValue": "web"}},
        }
    )
    return events


def _stub(agents: Stubber, memory: Stubber) -> int:
    """Queue the platform's answers; returns the number of events served."""
    agents.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": []})
    agents.add_response("list_agents", {"agentSummaries": []})
    actors = list(SESSIONS)
    memory.add_response(
        "list_actors",
        {"actorSummaries": [{"actorId": actors[0]}], "nextToken": "actors-2"},
        {"memoryId": MEMORY},
    )
    served = 0
    for n, actor in enumerate(actors):
        memory.add_response(
            "list_sessions",
            {
                "sessionSummaries": [
                    {"sessionId": s, "actorId": actor, "createdAt": START} for s in SESSIONS[actor]
                ]
            },
            {"memoryId": MEMORY, "actorId": actor},
        )
        for session in SESSIONS[actor]:
            events = _events(actor, session)
            params = {
                "memoryId": MEMORY,
                "actorId": actor,
                "sessionId": session,
                "includePayloads": True,
            }
            memory.add_response("list_events", {"events": events[:2], "nextToken": "p2"}, params)
            memory.add_response(
                "list_events", {"events": events[2:]}, {**params, "nextToken": "p2"}
            )
            served += len(events)
        if n == 0:
            memory.add_response(
                "list_actors",
                {"actorSummaries": [{"actorId": actors[1]}]},
                {"memoryId": MEMORY, "nextToken": "actors-2"},
            )
    return served


def _source() -> BedrockAgentsSource:
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return BedrockAgentsSource(
        BedrockAgentsOptions(rate=None, memory_ids=[MEMORY]), session=session
    )


def _export(folder: Path) -> int:
    source = _source()
    with Stubber(source.agents) as agents, Stubber(source.memory) as memory:
        served = _stub(agents, memory)
        with BundleWriter(folder, source={"kind": "bedrock-agents"}) as writer:
            source.export(ExportContext(writer))
        agents.assert_no_pending_responses()
        memory.assert_no_pending_responses()
    return served


def test_memory_events_round_trip_into_the_store(
    tmp_path: Path, services: Services, settings: Settings
) -> None:
    served = _export(tmp_path / "bundle")
    with open_bundle(tmp_path / "bundle") as reader:
        records = list(reader.records("memories"))
        first = import_bundle(reader, services.db, settings, embed=False)
        second = import_bundle(reader, services.db, settings, embed=False)
        report = reconcile(reader, services.db, settings, queries_per_store=0)
    assert len(records) == served == 12
    assert first.inserted["memories"] == served and "memories" not in first.not_stored
    assert second.inserted["memories"] == 0
    assert report.ok, report.as_dict()
    assert report.parts["memories"].store_count == served
    with services.db.session() as session:
        stored = session.scalars(
            select(MemoryEvent).order_by(
                MemoryEvent.actor_id,
                MemoryEvent.session_id,
                MemoryEvent.created_at,
                MemoryEvent.seq,
            )
        ).all()
    assert len(stored) == served
    event = stored[0]
    assert (event.memory_id, event.actor_id, event.session_id) == (MEMORY, "customer-17", "s-1")
    assert event.created_at == int(START.timestamp())
    assert event.content == [
        {
            "conversational": {
                "content": {"text": "customer-17: my parcel has not arrived"},
                "role": "USER",
            }
        }
    ]
    assert event.raw["eventTimestamp"] == START.isoformat()
    assert [e.raw["eventId"] for e in stored[:4]] == [
        e["eventId"] for e in _events("customer-17", "s-1")
    ], "events of one second keep the platform's order"
    refund = stored[3]
    assert refund.raw["branch"]["rootEventId"] == stored[0].id
    assert refund.raw["metadata"] == {"channel": {"stringValue": "web"}}


def test_reconcile_names_a_changed_and_a_missing_event(
    tmp_path: Path, services: Services, settings: Settings
) -> None:
    _export(tmp_path / "bundle")
    with open_bundle(tmp_path / "bundle") as reader:
        import_bundle(reader, services.db, settings, embed=False)
        records = list(reader.records("memories"))
        changed, removed = records[1], records[6]
        with services.db.session() as session:
            session.execute(
                update(MemoryEvent)
                .where(
                    MemoryEvent.id == changed["id"],
                    MemoryEvent.actor_id == changed["actor_id"],
                    MemoryEvent.session_id == changed["session_id"],
                )
                .values(content=[])
            )
            session.execute(
                MemoryEvent.__table__.delete().where(
                    MemoryEvent.id == removed["id"],
                    MemoryEvent.actor_id == removed["actor_id"],
                    MemoryEvent.session_id == removed["session_id"],
                )
            )
        report = reconcile(reader, services.db, settings, queries_per_store=0)
    memories = report.parts["memories"]
    assert not report.ok and not memories.ok
    key = "/".join((MEMORY, removed["actor_id"], removed["session_id"], removed["id"]))
    assert memories.missing == [key]
    changed_key = "/".join((MEMORY, changed["actor_id"], changed["session_id"], changed["id"]))
    assert memories.different == [{"id": changed_key, "fields": ["content"]}]
    assert memories.store_count == memories.bundle_count - 1


def test_a_platform_error_names_the_call(tmp_path: Path) -> None:
    from homeport.sources.errors import SourceError

    source = _source()
    with Stubber(source.agents) as agents, Stubber(source.memory) as memory:
        agents.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": []})
        agents.add_response("list_agents", {"agentSummaries": []})
        memory.add_client_error("list_actors", "ResourceNotFoundException", "memory not found", 404)
        with (
            BundleWriter(tmp_path / "b", source={"kind": "bedrock-agents"}) as writer,
            pytest.raises(SourceError, match="bedrock list_actors failed"),
        ):
            source.export(ExportContext(writer))
