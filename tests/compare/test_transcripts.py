"""Recorded conversations cut into exchanges, from a bundle and from the store."""

from __future__ import annotations

from pathlib import Path

from homeport.bundle import open_bundle
from homeport.compare.transcripts import BundleRecords, StoreRecords, exchanges, load_transcripts
from homeport.store.db import Database
from homeport.store.migrate import upgrade
from homeport.store.models.auth import Project
from homeport.store.models.runtime import Agent, Conversation, Item, Run


def test_bundle_transcripts_replay_turn_by_turn(sample_bundle: Path) -> None:
    with open_bundle(sample_bundle) as bundle:
        transcripts = load_transcripts(BundleRecords(bundle))
        orders = load_transcripts(BundleRecords(bundle), agent="Order Status", limit=2)
    assert transcripts and {t.agent.name for t in transcripts} <= {
        "Lumen Support",
        "Order Status",
        "Ticket Triage",
    }
    for transcript in transcripts:
        history_lengths = [len(e.history) for e in transcript.exchanges]
        assert history_lengths == sorted(history_lengths)  # each turn carries the ones before
        assert all(e.inputs for e in transcript.exchanges)
    assert len(orders) == 2 and all(t.agent.name == "Order Status" for t in orders)
    # Function calls recorded in run steps: first the calls, then the answer to their outputs.
    calls = orders[0].exchanges[0]
    assert calls.recorded.tool_calls and calls.recorded.tool_calls[0].name == "get_order_status"
    follow_up = next(
        e for e in orders[0].exchanges if e.inputs[0]["type"] == "function_call_output"
    )
    assert follow_up.recorded.text.startswith("Order LU-")
    assert follow_up.recorded.input_tokens is not None  # the run's usage, on its last exchange
    assert calls.recorded.input_tokens is None or calls is follow_up


def test_failed_runs_are_recorded_as_errors() -> None:
    items = [{"type": "message", "role": "user", "content": "Cancel LU-1", "created_at": 10}]
    runs = {
        "run_1": {
            "id": "run_1",
            "status": "failed",
            "created_at": 11,
            "failed_at": 12,
            "last_error": {"code": "server_error", "message": "boom"},
        }
    }
    (exchange,) = exchanges(items, [], runs)
    assert exchange.recorded.error == "server_error"
    assert exchange.question == "Cancel LU-1"


def test_store_transcripts(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db.engine)
    try:
        with db.session() as session:
            session.add(Project(id="proj_1", name="default"))
            session.flush()
            session.add(
                Agent(
                    id="asst_1",
                    project_id="proj_1",
                    model="gpt-4o",
                    name="Helper",
                    response_format="auto",
                )
            )
            session.add(Conversation(id="thread_1", project_id="proj_1"))
            session.flush()
            session.add(
                Run(
                    id="run_1",
                    project_id="proj_1",
                    kind="run",
                    conversation_id="thread_1",
                    agent_id="asst_1",
                    status="completed",
                    model="gpt-4o",
                    created_at=100,
                    started_at=100,
                    completed_at=102,
                    usage={"prompt_tokens": 7, "completion_tokens": 2},
                    required_action=None,
                    last_error=None,
                    incomplete_details=None,
                )
            )
            for n, (role, text) in enumerate((("user", "Hi"), ("assistant", "Hello!"))):
                session.add(
                    Item(
                        id=f"msg_{n}",
                        project_id="proj_1",
                        conversation_id="thread_1",
                        type="message",
                        role=role,
                        created_at=100 + n,
                        run_id="run_1" if role == "assistant" else None,
                        incomplete_details=None,
                        content=[{"type": "text", "text": {"value": text, "annotations": []}}],
                    )
                )
        (transcript,) = load_transcripts(StoreRecords(db))
    finally:
        db.dispose()
    (exchange,) = transcript.exchanges
    assert transcript.agent.name == "Helper"
    assert (exchange.question, exchange.recorded.text) == ("Hi", "Hello!")
    assert (exchange.recorded.latency_s, exchange.recorded.input_tokens) == (2.0, 7)
