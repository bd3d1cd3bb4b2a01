"""Canary: sticky per conversation, split by weight, objects on both sides with the same IDs."""

from __future__ import annotations

from collections import defaultdict

import httpx
import pytest

from homeport.gateway.seams import Mode
from homeport.rollout.state import locked
from homeport.store.db import Database
from tests.gateway.conftest import GatewayFactory, binomial_two_sided_p, wait_for
from tests.support.servers import HomeportServer


def test_chat_conversations_stay_on_one_side_and_split_by_weight(
    start_gateway: GatewayFactory,
) -> None:
    weight, conversations, turns = 0.3, 300, 3
    gateway = start_gateway(mode="canary", weight=weight, salt="chat-split")
    sides: dict[str, set[str]] = defaultdict(set)
    with gateway.client() as client:
        for turn in range(turns):
            for i in range(conversations):
                raw = client.chat.completions.with_raw_response.create(
                    model="scripted",
                    messages=[{"role": "user", "content": f"conversation {i} turn {turn}"}],
                    extra_headers={"homeport-conversation-key": f"c{i}"},
                )
                side = raw.headers["homeport-upstream"]
                answer = raw.parse().choices[0].message.content or ""
                assert answer.startswith(f"[{side}]")
                sides[f"c{i}"].add(side)
    assert all(len(s) == 1 for s in sides.values())
    on_homeport = sum(s == {"homeport"} for s in sides.values())
    assert 0 < on_homeport < conversations
    assert binomial_two_sided_p(on_homeport, conversations, weight) > 0.001
    gateway.stop()
    assert gateway.pairs() == []  # canary does not mirror


def _set_routing(database_url: str, mode: Mode, weight: float) -> None:
    db = Database(database_url)
    try:
        with locked(db, "default", 0.0) as (_, row):
            row.mode, row.weight, row.phase, row.version = (
                mode.value,
                weight,
                "test",
                row.version + 1,
            )
    finally:
        db.dispose()


def _wait_for_weight(url: str, weight: float) -> None:
    wait_for(lambda: httpx.get(url + "/healthz").json()["weight"] == weight, f"weight {weight}")


@pytest.mark.slow
def test_threads_are_pinned_and_raising_the_weight_moves_only_new_ones(
    start_gateway: GatewayFactory,
    database_url: str,
    two_homeports: tuple[HomeportServer, HomeportServer],
) -> None:
    managed, candidate = two_homeports
    gateway = start_gateway(
        routing="store",
        refresh_seconds=0.05,
        managed={"base_url": managed.base_url, "api_key": managed.admin_key},
        homeport={"base_url": candidate.base_url, "api_key": candidate.admin_key},
    )
    _set_routing(database_url, Mode.CANARY, 0.4)
    _wait_for_weight(gateway.url, 0.4)
    with gateway.client() as client:
        assistant = client.beta.assistants.create(model="scripted", name="support")
        # Written to both sides with the same ID.
        assert managed.client().beta.assistants.retrieve(assistant.id).name == "support"
        assert candidate.client().beta.assistants.retrieve(assistant.id).name == "support"

        def converse(thread_id: str | None, text: str) -> tuple[str, str]:
            if thread_id is None:
                raw = client.beta.threads.with_raw_response.create()
                thread_id = raw.parse().id
                first_side = raw.headers["homeport-upstream"]
            else:
                first_side = None
            raw_message = client.beta.threads.messages.with_raw_response.create(
                thread_id, role="user", content=text
            )
            side = raw_message.headers["homeport-upstream"]
            assert first_side in (None, side)
            run = client.beta.threads.runs.create_and_poll(
                thread_id=thread_id, assistant_id=assistant.id, poll_interval_ms=20
            )
            assert run.status == "completed"
            reply = client.beta.threads.messages.list(thread_id, order="desc", limit=1).data[0]
            assert reply.content[0].text.value.startswith(f"[{side}]")
            return thread_id, side

        first = dict(converse(None, f"first {i}") for i in range(40))
        assert set(first.values()) == {"managed", "homeport"}
        _set_routing(database_url, Mode.CANARY, 0.9)
        _wait_for_weight(gateway.url, 0.9)
        for thread_id, side in first.items():
            assert converse(thread_id, "again") == (thread_id, side)
        later = dict(converse(None, f"later {i}") for i in range(20))
    assert binomial_two_sided_p(sum(s == "homeport" for s in later.values()), 20, 0.9) > 0.001
