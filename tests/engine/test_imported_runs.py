"""Runs imported mid-flight (queued or in progress when the old platform stopped) are settled,
never executed months later and never left in progress forever."""

from __future__ import annotations

import time
from collections.abc import Callable

from homeport.store.models import Conversation, Run
from tests.support.servers import HomeportServer


def test_stale_imported_runs_are_settled_not_executed(
    homeport_server: Callable[..., HomeportServer],
) -> None:
    server = homeport_server()
    client = server.client()
    thread = client.beta.threads.create()
    assistant = client.beta.assistants.create(model="scripted")
    old = int(time.time()) - 90 * 86_400
    with server.services.db.session() as session:
        conversation = session.query(Conversation).filter_by(id=thread.id).one()
        project_id = conversation.project_id
        for run_id, status in (
            ("run_importedqueued", "queued"),
            ("run_importedbusy", "in_progress"),
        ):
            session.add(
                Run(
                    id=run_id,
                    project_id=project_id,
                    kind="run",
                    conversation_id=thread.id,
                    agent_id=assistant.id,
                    status=status,
                    model="scripted",
                    created_at=old,
                    expires_at=old + 600,
                    started_at=old if status == "in_progress" else None,
                )
            )
    server.services.engine.submit("run_importedqueued")  # even a nudge must not execute it
    deadline = time.monotonic() + 30
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        statuses = {
            run_id: client.beta.threads.runs.retrieve(run_id, thread_id=thread.id).status
            for run_id in ("run_importedqueued", "run_importedbusy")
        }
        if "queued" not in statuses.values() and "in_progress" not in statuses.values():
            break
        time.sleep(0.2)
    assert statuses["run_importedqueued"] == "expired"
    assert statuses["run_importedbusy"] in {"failed", "expired"}
    messages = client.beta.threads.messages.list(thread_id=thread.id)
    assert not messages.data, "a stale run must not produce an answer"
