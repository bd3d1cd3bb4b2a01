"""Retrieving a run for the SDK's polling helpers waits for it to settle (a long poll), on SQLite
and PostgreSQL; a plain retrieve answers at once."""

from __future__ import annotations

import openai
import pytest

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

POLL_HELPER = {"X-Stainless-Poll-Helper": "true"}


def _slow_run(client: openai.OpenAI, upstream_ms: int) -> tuple[str, str]:
    """A run whose model call takes ``upstream_ms`` (well inside or beyond the 2 s wait)."""
    assistant = client.beta.assistants.create(model="scripted").id
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": f"[[slow {upstream_ms}]] hello"}]
    ).id
    run = client.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
    assert run.status == "queued"
    return thread, run.id


def test_plain_retrieve_answers_while_the_run_executes(client: openai.OpenAI) -> None:
    thread, run_id = _slow_run(client, 1500)
    run = client.beta.threads.runs.retrieve(run_id, thread_id=thread)
    assert run.status in ("queued", "in_progress")
    done = client.beta.threads.runs.poll(run_id, thread_id=thread)
    assert done.status == "completed"


def test_polling_helper_retrieve_waits_for_the_outcome(client: openai.OpenAI) -> None:
    thread, run_id = _slow_run(client, 300)
    run = client.beta.threads.runs.retrieve(run_id, thread_id=thread, extra_headers=POLL_HELPER)
    assert run.status == "completed"


def test_polling_helper_wait_is_bounded_by_its_poll_interval(client: openai.OpenAI) -> None:
    thread, run_id = _slow_run(client, 1500)
    headers = {**POLL_HELPER, "X-Stainless-Custom-Poll-Interval": "0"}
    run = client.beta.threads.runs.retrieve(run_id, thread_id=thread, extra_headers=headers)
    assert run.status in ("queued", "in_progress")
    assert client.beta.threads.runs.poll(run_id, thread_id=thread).status == "completed"
