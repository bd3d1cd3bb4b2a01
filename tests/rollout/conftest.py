"""A migrated database per test, a fake clock, and helpers that play the gateway's part:
side-stats windows, shadow pairs (through the real pair sink), pins and a noise floor."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
import pytest

from homeport.compare.comparators.base import Dependencies
from homeport.compare.pipeline import Pipeline
from homeport.compare.records import record_offline, store_sink
from homeport.gateway.seams import (
    LATENCY_BOUNDS,
    CapturedRequest,
    CapturedResponse,
    Mode,
    Role,
    ShadowPair,
    SideStats,
    Upstream,
)
from homeport.gateway.sidestats import write_side_stats
from homeport.ids import new_id
from homeport.rollout.collect import StoreEvidence
from homeport.rollout.controller import Controller
from homeport.rollout.plan import RolloutPlan
from homeport.rollout.state import store_routing
from homeport.store.db import Database
from homeport.store.migrate import upgrade
from homeport.store.models.gateway import GatewayPin

START = 1_800_000_000.0
_AT = LATENCY_BOUNDS.index(0.1)
FAST = tuple([0] * _AT + [95, 5] + [0] * (len(LATENCY_BOUNDS) - _AT - 1))  # p95 in the 0.1 s bucket


@dataclass
class FakeClock:
    now: float = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def chat_answer(upstream: Upstream, text: str, status: int = 200) -> CapturedResponse:
    body = {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3},
    }
    return CapturedResponse(
        upstream=upstream,
        status=status,
        headers=(),
        body=orjson.dumps(body),
        error=None,
        started_at=START,
        ttft_seconds=None,
        total_seconds=0.1,
        streamed=False,
    )


@dataclass
class Gateway:
    """Writes what the gateway would, at the fake clock's time."""

    db: Database
    clock: FakeClock
    conversations: int = field(default=0)

    def window(
        self,
        phase: str,
        *,
        requests: int = 100,
        errors: int = 0,
        candidate_errors: int = 0,
        candidate_latency: tuple[int, ...] = FAST,
        managed: bool = True,
    ) -> None:
        def stats(side: Upstream, errs: int, latency: tuple[int, ...]) -> SideStats:
            return SideStats(
                replica="r1",
                side=side,
                role=Role.SERVED,
                phase=phase,
                window_start=self.clock.now - 60,
                window_seconds=60,
                requests=requests,
                errors=errs,
                latency_buckets=latency,
                ttft_buckets=(),
                input_tokens=10 * requests,
                output_tokens=3 * requests,
            )

        rows = [stats(Upstream.HOMEPORT, candidate_errors, candidate_latency)]
        if managed:
            rows.append(stats(Upstream.MANAGED, errors, FAST))
        write_side_stats(self.db, rows)

    def pairs(self, phase: str, *, same: int = 10, different: int = 0) -> None:
        request = CapturedRequest(
            "POST",
            "/v1/chat/completions",
            "",
            (),
            orjson.dumps(
                {"model": "gpt-4o", "messages": [{"role": "user", "content": "Where is my order?"}]}
            ),
        )
        batch = []
        for n in range(same + different):
            self.conversations += 1
            reply = "It shipped." if n < same else "I cannot find that order."
            batch.append(
                ShadowPair(
                    pair_id=new_id("pair"),
                    created_at=self.clock.now,
                    mode=Mode.SHADOW,
                    phase=phase,
                    conversation_key=f"thread_{self.conversations}",
                    side=Upstream.MANAGED,
                    request=request,
                    candidate_request=request,
                    primary=chat_answer(Upstream.MANAGED, "It shipped."),
                    candidate=chat_answer(Upstream.HOMEPORT, reply),
                )
            )
        asyncio.run(store_sink(self.db, ROLLOUT).write(batch))

    def pins(self, count: int) -> None:
        with self.db.session() as session:
            for _ in range(count):
                self.conversations += 1
                key = f"thread_{self.conversations}"
                session.add(
                    GatewayPin(
                        key=key,
                        side="homeport",
                        kind="thread",
                        conversation=key,
                        created_at=int(self.clock.now),
                    )
                )

    def noise_floor(self, rollout: str, *, pairs: int = 200, disagreements: int = 10) -> None:
        rows = []
        for n in range(pairs):
            outcome = "different" if n < disagreements else "same"
            judgement = {"outcome": "same", "decided_by": "exact", "verdicts": []}
            rows.append(
                {
                    "conversation_id": f"c{n}",
                    "agent_id": "asst_1",
                    "question": "q",
                    "context": {},
                    "baseline": {},
                    "candidate": {},
                    "judgement": judgement,
                    "noise": {"outcome": outcome, "decided_by": "exact", "verdicts": []},
                }
            )
        record_offline(self.db, rollout, rows)


@pytest.fixture
def gateway(db: Database, clock: FakeClock) -> Gateway:
    return Gateway(db, clock)


ROLLOUT = "default"


def make_plan(**overrides: object) -> RolloutPlan:
    values: dict[str, object] = {
        "steps": ["shadow", 5, 100],
        "bake_seconds": 300,
        "min_turns": 200,
        "min_conversations": 10,
        "check_interval_seconds": 60,
        "max_failed_checks": 3,
    }
    values.update(overrides)
    return RolloutPlan.model_validate(values)


def make_controller(db: Database, clock: FakeClock, plan: RolloutPlan | None = None) -> Controller:
    evidence = StoreEvidence(db, Pipeline.build(Dependencies()))
    return Controller(db, plan or make_plan(), ROLLOUT, evidence, clock=clock)


def healthy_minute(gateway: Gateway, controller: Controller) -> None:
    """One minute of good traffic in whatever phase the rollout is in, then a tick. At full
    weight only homeport serves, as through a real gateway."""
    state = store_routing(controller.db, ROLLOUT).read()
    assert state is not None
    gateway.clock.advance(60)
    gateway.window(state.phase, managed=state.mode is not Mode.FULL)
    if state.mode is Mode.SHADOW:
        gateway.pairs(state.phase, same=10)
    else:
        gateway.pins(5)
    controller.tick()
