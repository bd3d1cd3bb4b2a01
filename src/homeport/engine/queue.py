"""The runs table as a queue: claims with a lease, heartbeats, recovery, expiry, cancel flags.

All functions take a connection inside a transaction and use Core statements. On PostgreSQL the
claim of the next runs is ``FOR UPDATE SKIP LOCKED``, so any number of workers share the queue;
on SQLite every transaction is ``BEGIN IMMEDIATE``, which serialises claims anyway.
"""

from __future__ import annotations

import time
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, bindparam, func, or_, select, update

from homeport.engine.adapter import RunRow
from homeport.engine.status import ACTIVE, CANCELLING, IN_PROGRESS, PAUSED, QUEUED
from homeport.store.models import Run

RUNS = cast(Table, Run.__table__)
_COLUMNS = [c for c in RUNS.c if c.name != "seq"]

# Statements used on every run are built once: SQLAlchemy then reuses their compiled form
# without recomputing a cache key (values go as parameters).
_LOAD = select(*_COLUMNS).where(RUNS.c.id == bindparam("p_id"))
_CLAIM_SET = {
    "status": IN_PROGRESS,
    "lease_owner": bindparam("p_owner"),
    "lease_expires_at": bindparam("p_lease"),
    "started_at": func.coalesce(RUNS.c.started_at, bindparam("p_now")),
    "attempts": RUNS.c.attempts + 1,
}
_CLAIM = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("p_id"), RUNS.c.status == QUEUED)
    .values(_CLAIM_SET)
    .returning(*_COLUMNS)
)
_CLAIM_SEQS = (
    update(RUNS)
    .where(RUNS.c.seq.in_(bindparam("p_seqs", expanding=True)), RUNS.c.status == QUEUED)
    .values(_CLAIM_SET)
    .returning(*_COLUMNS)
)
_ANY_QUEUED = select(RUNS.c.seq).where(RUNS.c.status == QUEUED).limit(1)


def _row(mapping: Any) -> RunRow:
    return dict(mapping)


def _claim_params(owner: str, lease_seconds: float) -> dict[str, Any]:
    now = time.time()
    return {"p_owner": owner, "p_lease": now + lease_seconds, "p_now": int(now)}


def load_run(conn: Connection, run_id: str) -> RunRow | None:
    row = conn.execute(_LOAD, {"p_id": run_id}).mappings().first()
    return _row(row) if row is not None else None


def claim(conn: Connection, run_id: str, owner: str, lease_seconds: float) -> RunRow | None:
    """Claim one queued run by id (the fast path right after the API queued it)."""
    params = {"p_id": run_id, **_claim_params(owner, lease_seconds)}
    row = conn.execute(_CLAIM, params).mappings().first()
    return _row(row) if row is not None else None


def claimed(row: RunRow, owner: str, lease_seconds: float) -> RunRow:
    """A queued run's row as ``claim`` would leave it (for a run claimed as it is inserted)."""
    now = time.time()
    return {
        **row,
        "status": IN_PROGRESS,
        "lease_owner": owner,
        "lease_expires_at": now + lease_seconds,
        "started_at": row.get("started_at") or int(now),
        "attempts": (row.get("attempts") or 0) + 1,
    }


def any_queued(conn: Connection) -> bool:
    """Whether some run waits to be claimed (a cheap read before ``claim_next``)."""
    return conn.execute(_ANY_QUEUED).first() is not None


def claim_next(conn: Connection, owner: str, lease_seconds: float, limit: int) -> list[RunRow]:
    """Claim up to ``limit`` of the oldest queued runs no other worker holds."""
    pick = select(RUNS.c.seq).where(RUNS.c.status == QUEUED).order_by(RUNS.c.seq).limit(limit)
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    seqs = list(conn.execute(pick).scalars())
    if not seqs:
        return []
    params = {"p_seqs": seqs, **_claim_params(owner, lease_seconds)}
    return [_row(row) for row in conn.execute(_CLAIM_SEQS, params).mappings()]


def heartbeat(conn: Connection, owner: str, run_ids: list[str], lease_seconds: float) -> set[str]:
    """Extend our leases; returns the ids we still hold (a run missing here was taken over)."""
    if not run_ids:
        return set()
    stmt = (
        update(Run)
        .where(Run.id.in_(run_ids), Run.lease_owner == owner, Run.status.in_(ACTIVE))
        .values(lease_expires_at=time.time() + lease_seconds)
        .returning(Run.id)
    )
    return set(conn.execute(stmt).scalars())


def cancel_requested(conn: Connection, run_ids: list[str]) -> set[str]:
    if not run_ids:
        return set()
    stmt = select(Run.id).where(Run.id.in_(run_ids), Run.cancel_requested.is_(True))
    return set(conn.execute(stmt).scalars())


def request_cancel(conn: Connection, run_id: str) -> None:
    """Flag an active run for its worker (which may live in another process)."""
    conn.execute(
        update(Run).where(Run.id == run_id).values(cancel_requested=True, status=CANCELLING)
    )


def stale_runs(conn: Connection, limit: int = 100) -> list[RunRow]:
    """Runs to settle: active with an expired lease (their worker died) or no lease at all (an
    imported run that was mid-flight on the old platform), or queued / waiting for tool outputs
    past ``expires_at``. Locked (SKIP LOCKED) on PostgreSQL."""
    now = time.time()
    stmt = (
        select(*_COLUMNS)
        .where(
            or_(
                and_(
                    Run.status.in_(ACTIVE),
                    or_(Run.lease_expires_at < now, Run.lease_expires_at.is_(None)),
                ),
                and_(Run.status.in_([QUEUED, *PAUSED]), Run.expires_at < int(now)),
            )
        )
        .order_by(Run.seq)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [_row(row) for row in conn.execute(stmt).mappings()]


def queue_stats(conn: Connection) -> tuple[int, int | None]:
    """(queued runs, created_at of the oldest)."""
    count, oldest = conn.execute(
        select(func.count(), func.min(Run.created_at)).where(Run.status == QUEUED)
    ).one()
    return int(count), oldest
