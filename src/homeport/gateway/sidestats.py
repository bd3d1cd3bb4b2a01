"""Per-side stats in the store: each replica appends its windows; the rollout reads them."""

from __future__ import annotations

from sqlalchemy import select

from homeport.gateway.seams import Role, SideStats, Upstream
from homeport.store.db import Database
from homeport.store.models.gateway import GatewaySideStats


def write_side_stats(db: Database, stats: list[SideStats]) -> None:
    if not stats:
        return
    with db.session() as session:
        session.add_all(
            GatewaySideStats(
                replica=s.replica,
                side=s.side.value,
                role=s.role.value,
                phase=s.phase,
                window_start=s.window_start,
                window_seconds=s.window_seconds,
                requests=s.requests,
                errors=s.errors,
                latency_buckets=list(s.latency_buckets),
                ttft_buckets=list(s.ttft_buckets),
                input_tokens=s.input_tokens,
                output_tokens=s.output_tokens,
            )
            for s in stats
        )


def read_side_stats(db: Database, *, since: float) -> list[SideStats]:
    """Every replica's windows that started at or after ``since`` (unix seconds), oldest first."""
    with db.session() as session:
        rows = session.scalars(
            select(GatewaySideStats)
            .where(GatewaySideStats.window_start >= since)
            .order_by(GatewaySideStats.window_start, GatewaySideStats.seq)
        ).all()
        return [
            SideStats(
                replica=r.replica,
                side=Upstream(r.side),
                role=Role(r.role),
                phase=r.phase,
                window_start=r.window_start,
                window_seconds=r.window_seconds,
                requests=r.requests,
                errors=r.errors,
                latency_buckets=tuple(r.latency_buckets),
                ttft_buckets=tuple(r.ttft_buckets),
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
            )
            for r in rows
        ]
