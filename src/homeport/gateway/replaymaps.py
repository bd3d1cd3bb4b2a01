"""The shadow copies' memory, in the store, so every replica's shadow worker shares it.

A conversation's turns may reach different gateway replicas (a load balancer spreads them), yet
a later turn's copy needs what an earlier copy learned: the candidate's own ID for a response or
run it created, and the function calls both sides asked for (to answer the candidate's calls
with the client's outputs). Each finished copy upserts one row per primary ID it created,
extended or answered (``gateway_replay``, same database as the pins); a later copy reads the rows
it refers to in one SELECT. A row's existence says that copy is finished, so a copy can wait for
one still running on another replica. Rows expire after ``replay_ttl_seconds`` (every later turn
renews them) and are deleted by the workers.

A worker learning a polled run's function calls holds a short **lease** on each (a row keyed
``learning_key(call)``, renewed while the copy is queued or running): a submit copy on any replica
waits for the calls while a lease lives, and learns them itself when none does. A worker that
dies stops renewing, so its leases lapse after a few seconds and nobody waits on them for long.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from homeport.gateway.replay import Call
from homeport.store.db import Database
from homeport.store.models.gateway import GatewayReplay

CallPair = tuple[list[Call], list[Call]]  # (the primary's calls, the candidate's calls)


@dataclass(frozen=True, slots=True)
class Entry:
    """What the copies learned about one primary ID."""

    candidate_id: str | None = None  # the candidate's own ID, when it differs
    calls: CallPair | None = None
    broken: bool = False  # the candidate does not hold it: later turns are not mirrored


def learning_key(primary_id: str) -> str:
    """The key of the lease on learning one of the primary's calls (IDs hold no ``#``)."""
    return f"{primary_id}#learning"


def _calls_to_json(calls: CallPair) -> dict[str, list[list[str]]]:
    primary, candidate = calls
    return {
        "primary": [[c.id, c.name, c.arguments] for c in primary],
        "candidate": [[c.id, c.name, c.arguments] for c in candidate],
    }


def _calls_from_json(data: dict[str, list[list[str]]]) -> CallPair:
    return [Call(*c) for c in data["primary"]], [Call(*c) for c in data["candidate"]]


class ReplayMaps:
    def __init__(self, db: Database, gateway: str, ttl_seconds: float) -> None:
        self._db = db
        self._gateway = gateway
        self._ttl = ttl_seconds

    def read(self, keys: Iterable[str]) -> dict[str, Entry]:
        """The unexpired entries among ``keys``."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        with self._db.sessions() as session:
            rows = session.execute(
                select(
                    GatewayReplay.key,
                    GatewayReplay.candidate_id,
                    GatewayReplay.calls,
                    GatewayReplay.broken,
                ).where(
                    GatewayReplay.gateway == self._gateway,
                    GatewayReplay.key.in_(wanted),
                    GatewayReplay.expires_at > time.time(),
                )
            ).all()
        return {
            r.key: Entry(r.candidate_id, _calls_from_json(r.calls) if r.calls else None, r.broken)
            for r in rows
        }

    def write(self, entries: dict[str, Entry]) -> None:
        """Upsert: a new candidate ID or calls fill in what a row lacks, ``broken`` sticks, and
        the expiry is renewed."""
        self._upsert(entries, time.time() + self._ttl)

    def lease(self, keys: Iterable[str], seconds: float) -> None:
        """Take or renew the leases on learning these calls, for ``seconds``."""
        self._upsert({learning_key(k): Entry() for k in keys}, time.time() + seconds)

    def _upsert(self, entries: dict[str, Entry], expires: float) -> None:
        if not entries:
            return
        rows = [
            {
                "gateway": self._gateway,
                "key": key,
                "candidate_id": e.candidate_id,
                "calls": _calls_to_json(e.calls) if e.calls else None,
                "broken": e.broken,
                "expires_at": expires,
            }
            for key, e in sorted(entries.items())  # one lock order for concurrent writers
        ]
        insert = pg_insert if self._db.dialect == "postgresql" else sqlite_insert
        statement = insert(GatewayReplay).values(rows)
        new = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["gateway", "key"],
            set_={
                "candidate_id": func.coalesce(new.candidate_id, GatewayReplay.candidate_id),
                "calls": func.coalesce(new.calls, GatewayReplay.calls),
                "broken": or_(new.broken, GatewayReplay.broken),
                "expires_at": new.expires_at,
            },
        )
        with self._db.session() as session:
            session.execute(statement)

    def expire(self) -> int:
        """Delete expired rows (of every gateway); how many."""
        with self._db.session() as session:
            result = session.execute(
                delete(GatewayReplay).where(GatewayReplay.expires_at <= time.time())
            )
        return int(getattr(result, "rowcount", 0) or 0)
