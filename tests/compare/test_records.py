"""Shadow pairs through the gateway's seam into comparison records, scored and tallied."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import orjson
import pytest

from homeport.compare.comparators.base import Dependencies
from homeport.compare.pipeline import Pipeline
from homeport.compare.records import record_offline, score_pending, tally
from homeport.gateway.config import ShadowConfig
from homeport.gateway.pairs import load_sink
from homeport.gateway.seams import (
    CapturedRequest,
    CapturedResponse,
    Mode,
    ShadowPair,
    Upstream,
)
from homeport.store.db import Database
from homeport.store.migrate import upgrade
from homeport.store.models.rollout import ComparisonRecord

REQUEST = CapturedRequest(
    "POST", "/v1/responses", "", (), orjson.dumps({"model": "gpt-4o", "input": "Where is LU-1?"})
)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


def response(upstream: Upstream, text: str | None, status: int = 200) -> CapturedResponse:
    body = {
        "object": "response",
        "status": "completed",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": text}]}],
    }
    if text is None:
        body = {"object": "response", "status": "queued", "output": []}
    return CapturedResponse(upstream, status, (), orjson.dumps(body), None, 0.0, None, 0.1, False)


def pair(
    pair_id: str,
    managed: str | None,
    homeport: str | None,
    *,
    side: Upstream = Upstream.MANAGED,
    homeport_status: int = 200,
) -> ShadowPair:
    answers = {
        Upstream.MANAGED: response(Upstream.MANAGED, managed),
        Upstream.HOMEPORT: response(Upstream.HOMEPORT, homeport, homeport_status),
    }
    return ShadowPair(
        pair_id,
        1000.0,
        Mode.SHADOW,
        "shadow",
        "thread_1",
        side,
        REQUEST,
        REQUEST,
        answers[side],
        answers[side.other],
    )


def test_pairs_are_stored_scored_and_tallied(db: Database) -> None:
    # The gateway finds the sink by its seam and stores pairs under its own name.
    sink = load_sink(ShadowConfig(sink="store"), db, "default")
    assert sink is not None
    batch = [
        pair("pair_1", "It shipped.", "It shipped."),
        pair("pair_2", "It shipped.", "It was lost."),
        pair("pair_3", "It shipped.", "It shipped.", side=Upstream.HOMEPORT),
        pair("pair_4", "It shipped.", "", homeport_status=500),
        pair("pair_5", None, None),  # no answer yet on either side: not comparable
    ]
    asyncio.run(sink.write(batch))
    asyncio.run(sink.write(batch[:1]))  # a redelivered batch is stored once
    assert score_pending(db, Pipeline.build(Dependencies())) == 4
    assert score_pending(db, Pipeline.build(Dependencies())) == 0
    with db.sessions() as session:
        rows = {r.id: r for r in session.query(ComparisonRecord)}
    assert rows["pair_1"].outcome == "same" and rows["pair_1"].decided_by == "exact"
    assert rows["pair_2"].outcome == "unsure"
    assert rows["pair_3"].baseline["text"] == "It shipped."  # managed is always the baseline
    assert rows["pair_4"].outcome == "different" and rows["pair_4"].candidate_error
    assert rows["pair_5"].outcome == "n/a"
    assert rows["pair_1"].question == "Where is LU-1?" and rows["pair_1"].raw is not None
    counts = tally(db, kind="shadow")
    assert (counts.pairs, counts.disagreements) == (4, 2)
    assert {r.rollout_id for r in rows.values()} == {"default"}
    assert tally(db, kind="shadow", rollout_id="default").pairs == 4
    assert tally(db, kind="shadow", rollout_id="another-gateway").pairs == 0
    assert tally(db, kind="shadow", since=1001.0).pairs == 0


def test_offline_results_give_a_rollout_its_noise_floor(db: Database) -> None:
    judgement = {"outcome": "same", "decided_by": "exact", "verdicts": []}
    rows = [
        {
            "conversation_id": f"c{n}",
            "agent_id": "asst_1",
            "question": "q",
            "context": {},
            "baseline": {"text": "a"},
            "candidate": {"text": "a"},
            "judgement": judgement,
            "noise": {
                "outcome": "different" if n == 0 else "same",
                "decided_by": None,
                "verdicts": [],
            },
        }
        for n in range(4)
    ]
    assert record_offline(db, "gw", rows) == 8
    noise = tally(db, kind="noise", rollout_id="gw")
    assert (noise.pairs, noise.disagreements) == (4, 1)
    assert tally(db, kind="noise", rollout_id="other").pairs == 0
    assert tally(db, kind="offline", rollout_id="gw").disagreements == 0
