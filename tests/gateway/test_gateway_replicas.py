"""A polled run whose calls go to different gateway replicas: created through one, polled and
answered through the other. The replica that sees the run waiting for tool outputs is not the
one that made the shadow copy; the store-backed replay maps join them."""

from __future__ import annotations

import openai
import pytest
from sqlalchemy import select

from homeport.store.models import Item
from tests.gateway.conftest import GatewayFactory
from tests.gateway.test_gateway_replay import LOOKUP
from tests.support.servers import HomeportServer


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_polled_run_across_replicas_reaches_the_candidate(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    managed, candidate = two_homeports
    sides = {
        "mode": "shadow",
        "managed": {"base_url": managed.base_url, "api_key": managed.api_key},
        "homeport": {"base_url": candidate.base_url, "api_key": candidate.admin_key},
    }
    first, second = start_gateway(**sides), start_gateway(**sides)
    with first.client() as a, second.client() as b:
        assistant = a.beta.assistants.create(model="scripted", tools=[LOOKUP])  # type: ignore[list-item]
        thread = a.beta.threads.create(
            messages=[{"role": "user", "content": '[[call lookup {"order": 7}]]'}]
        )
        created = a.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        run = b.beta.threads.runs.poll(created.id, thread_id=thread.id, poll_interval_ms=20)
        assert run.status == "requires_action"
        assert run.required_action is not None
        tool_call = run.required_action.submit_tool_outputs.tool_calls[0]
        a.beta.threads.runs.submit_tool_outputs(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": tool_call.id, "output": "shipped"}],
        )
        finished = b.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=20)
        assert finished.status == "completed"
    first.stop()
    second.stop()
    on_first = {p.request.path.rsplit("/", 1)[-1]: p for p in first.pairs()}
    assert set(on_first) == {"runs", "submit_tool_outputs"}
    assert second.pairs() == []  # polls are not model calls
    submitted = on_first["submit_tool_outputs"]
    assert submitted.candidate.ok, submitted.candidate.body
    _, _, candidate_thread, _, candidate_run, _ = submitted.candidate_request.path.strip("/").split(
        "/"
    )
    with openai.OpenAI(
        base_url=candidate.base_url, api_key=candidate.admin_key, max_retries=0
    ) as direct:
        replayed = direct.beta.threads.runs.poll(
            candidate_run, thread_id=candidate_thread, poll_interval_ms=20
        )
        steps = direct.beta.threads.runs.steps.list(candidate_run, thread_id=candidate_thread)
    assert replayed.status == "completed"
    candidate_calls = [
        c.id
        for step in steps.data
        if step.step_details.type == "tool_calls"
        for c in step.step_details.tool_calls
    ]
    assert submitted.candidate_request.json()["tool_outputs"][0]["tool_call_id"] in candidate_calls
    with candidate.services.db.sessions() as session:
        outputs = session.scalars(select(Item).where(Item.type == "function_call_output")).all()
    assert {o.data.get("output") for o in outputs} == {"shipped"}
