"""Finishing runs that no executor is driving: cancel of a waiting run, expiry, dead workers.

Each function runs inside the caller's transaction and writes the run's final state and events
through the run kind's adapter, so every run ends with its protocol's events and a ``done``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from homeport.engine import queue
from homeport.engine.adapter import RunAdapter, RunRow, RunScope, adapter_class
from homeport.engine.events import last_event_number
from homeport.engine.status import (
    ACTIVE,
    CANCELLED,
    CANCELLING,
    EXPIRED,
    FAILED,
    PAUSED,
    QUEUED,
    transition,
)
from homeport.errors import not_found
from homeport.store.models import Run

if TYPE_CHECKING:
    from homeport.services import Services

WORKER_LOST = (
    "The homeport worker executing this run stopped before it finished (its lease expired). "
    "Create the run again."
)


def _finish(services: Services, adapter: RunAdapter, status: str, **kwargs: Any) -> None:
    services.metrics.runs.labels(adapter.scope.run["kind"], status).inc()
    adapter.finish(status, **kwargs)


def adapter_for(services: Services, conn: Connection, row: RunRow) -> RunAdapter:
    scope = RunScope(services, row, next_n=last_event_number(conn, row["id"]) + 1)
    return adapter_class(row["kind"])(scope)


def _lock(conn: Connection, run_id: str) -> RunRow:
    stmt = select(Run.__table__).where(Run.id == run_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise not_found("run", run_id)
    return {k: v for k, v in row.items() if k != "seq"}


def cancel_run(services: Services, conn: Connection, run_id: str) -> RunRow:
    """Cancel now if no worker holds the run; flag it for its worker otherwise."""
    row = _lock(conn, run_id)
    status = row["status"]
    if status == CANCELLING:
        return row
    if status in (QUEUED, *PAUSED):
        adapter = adapter_for(services, conn, row)
        _finish(services, adapter, CANCELLED)
        adapter.scope.flush(conn)
        return adapter.scope.run
    transition(status, CANCELLING, object_name=row["kind"])
    queue.request_cancel(conn, run_id)
    return {**row, "status": CANCELLING, "cancel_requested": True}


def settle_stale(services: Services, conn: Connection) -> list[str]:
    """Fail runs whose worker died and expire runs past ``expires_at``; returns their ids."""
    settled = []
    for row in queue.stale_runs(conn):
        adapter = adapter_for(services, conn, row)
        if row["status"] in ACTIVE:
            if row["status"] == CANCELLING:
                _finish(services, adapter, CANCELLED)
            else:
                error = {"code": "server_error", "message": WORKER_LOST}
                _finish(services, adapter, FAILED, error=error)
        else:
            _finish(services, adapter, EXPIRED)
        adapter.scope.flush(conn)
        settled.append(row["id"])
    return settled
