"""A conversation's shadow copies in the client's order, whichever replica runs them.

Each handed-off exchange carries the time the proxy took the client's request (``at``): a
client that waits for an answer before its next turn sends that turn later, so ``at`` orders a
conversation's turns as the client made them. A worker *holds* each turn it takes (a conversation
write: a message, a run, a response, tool outputs) from the moment it reads the handoff until
the copy ends, and a copy starts only when no earlier turn of its conversation is held anywhere:
on this worker (a dictionary) or, when other workers are alive, on theirs (``gateway_turns``, one
indexed read). Holding is a lease in the store, written and renewed in batches (at once for new
turns, every ``RENEW_SECONDS`` for all), deleted when the copy ends (and all of a worker's when
it stops); a dead worker's lapse after ``LEASE_SECONDS``, and its turns count as lost. A held
turn is an unfinished one, so a copy that waits for the object an earlier copy creates (a run
the tool outputs answer) knows that copy is lost when its row is missing and no earlier turn is
held.

Each worker also keeps a presence row, renewed with its turns, saying whether it writes them. A
worker that finds itself alone writes no new turns and reads none: one replica pays nothing per
copy (its queue already runs a conversation's copies in order). When another worker appears, it
writes the turns it holds at its next renewal, flagging its presence in the same transaction;
the newcomer trusts its store view (and starts copies that wait on it) only once no other
worker's presence says it is alone, looking again every ``SETTLE_SECONDS`` until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from homeport.ids import new_id
from homeport.store.db import Database
from homeport.store.models.gateway import GatewayTurn

log = logging.getLogger("homeport.gateway.turns")

PRESENCE = "#replica"  # the conversation of presence rows (IDs hold no ``#``)
LEASE_SECONDS = 5.0  # a held turn (or a presence) lapses this long after its last renewal
RENEW_SECONDS = 1.0  # how often a worker renews its presence and the turns it holds
SETTLE_SECONDS = 0.1  # how often a new worker looks again until no other worker is alone


@dataclass(frozen=True, slots=True)
class Peers:
    """The other workers alive, and how many of them write no turns (they were alone)."""

    alive: int
    alone: int


@dataclass(frozen=True, slots=True)
class Turn:
    id: str
    conversation: str
    at: float  # when the proxy took the client's request
    queued: int = 0  # its place among the turns its worker took


class TurnLedger:
    """The store side: the turns every worker holds, and which workers are alive."""

    def __init__(self, db: Database, gateway: str) -> None:
        self._db = db
        self._gateway = gateway

    def sync(
        self,
        worker: str,
        hold: Iterable[Turn],
        release: Iterable[str],
        *,
        writes: bool,
        seconds: float = LEASE_SECONDS,
    ) -> Peers:
        """One transaction: take or renew the leases on ``hold`` (for ``seconds``) and this
        worker's presence, saying whether it ``writes`` all the turns it holds (it did not find
        itself alone), delete the ``release``d turns; the other workers alive."""
        now = time.time()
        released = sorted(release)
        with self._db.session() as session:
            marks = session.scalars(
                select(GatewayTurn.at).where(
                    GatewayTurn.gateway == self._gateway,
                    GatewayTurn.conversation == PRESENCE,
                    GatewayTurn.turn != worker,
                    GatewayTurn.expires_at > now,
                )
            ).all()
            peers = Peers(len(marks), list(marks).count(0.0))
            if released:
                session.execute(
                    delete(GatewayTurn).where(
                        GatewayTurn.gateway == self._gateway, GatewayTurn.turn.in_(released)
                    )
                )
            # A presence's ``at`` says whether its worker writes its turns (1) or is alone (0).
            presence = Turn(worker, PRESENCE, 1.0 if writes else 0.0)
            rows = [
                {
                    "gateway": self._gateway,
                    "turn": t.id,
                    "conversation": t.conversation,
                    "at": t.at,
                    "expires_at": now + seconds,
                }
                for t in sorted([*hold, presence], key=lambda t: t.id)
            ]
            insert = pg_insert if self._db.dialect == "postgresql" else sqlite_insert
            statement = insert(GatewayTurn).values(rows)
            statement = statement.on_conflict_do_update(
                index_elements=["gateway", "turn"],
                set_={"at": statement.excluded.at, "expires_at": statement.excluded.expires_at},
            )
            session.execute(statement)
        return peers

    def earlier(self, conversation: str, at: float, *, besides: str = "") -> bool:
        """Whether a worker (``besides`` that one) holds a turn of ``conversation`` taken
        before ``at``."""
        with self._db.sessions() as session:
            found = session.scalar(
                select(GatewayTurn.seq)
                .where(
                    GatewayTurn.gateway == self._gateway,
                    GatewayTurn.conversation == conversation,
                    GatewayTurn.at < at,
                    GatewayTurn.expires_at > time.time(),
                    ~GatewayTurn.turn.startswith(f"{besides}.", autoescape=True),
                )
                .limit(1)
            )
        return found is not None

    def leave(self, worker: str) -> None:
        """Delete a stopping worker's presence and turns: its copies have ended or never will."""
        with self._db.session() as session:
            session.execute(
                delete(GatewayTurn).where(
                    GatewayTurn.gateway == self._gateway,
                    (GatewayTurn.turn == worker)
                    | GatewayTurn.turn.startswith(f"{worker}.", autoescape=True),
                )
            )

    def expire(self) -> int:
        """Delete lapsed rows (of every gateway); how many."""
        with self._db.session() as session:
            result = session.execute(
                delete(GatewayTurn).where(GatewayTurn.expires_at <= time.time())
            )
        return int(getattr(result, "rowcount", 0) or 0)


class TurnOrder:
    """One worker's side: the turns it holds, and whether a turn may start."""

    def __init__(self, ledger: TurnLedger) -> None:
        self._ledger = ledger
        self._worker = new_id("worker")
        self._ids = itertools.count()
        self._held: dict[str, Turn] = {}
        self._conversations: dict[str, set[Turn]] = {}  # the held turns, by conversation
        self._written: set[str] = set()  # held turns whose lease is in the store
        self._released: set[str] = set()  # written turns whose copy ended: delete them
        self._alone: bool | None = None  # no other worker at the last sync (None: not known)
        self._ready = False  # every other worker writes its turns: the store view is whole
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._sync(), name="gateway-shadow-turns")

    async def stop(self) -> None:
        """Stop renewing, and leave: later turns elsewhere need not wait for the rows to lapse."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await asyncio.to_thread(self._ledger.leave, self._worker)
        except Exception as exc:  # its rows lapse instead
            log.warning("leaving the shadow turns failed: %s", exc)

    def hold(self, conversation: str, at: float) -> Turn:
        """Hold a turn from now until ``release``."""
        queued = next(self._ids)
        turn = Turn(f"{self._worker}.{queued}", conversation, at, queued)
        self._held[turn.id] = turn
        self._conversations.setdefault(conversation, set()).add(turn)
        if not self._alone:
            self._changed.set()
        return turn

    def release(self, turn: Turn) -> None:
        del self._held[turn.id]
        same = self._conversations[turn.conversation]
        same.discard(turn)
        if not same:
            del self._conversations[turn.conversation]
        if turn.id in self._written:
            self._written.discard(turn.id)
            self._released.add(turn.id)
            self._changed.set()

    async def earlier_held(self, conversation: str, at: float, queued: int | None = None) -> bool:
        """Whether an earlier turn of ``conversation`` is held (not yet copied, nor lost), here
        (queued before turn ``queued``, when it is one of this worker's: a turn handed off
        after it is behind it in the queue, whatever its ``at``) or on another worker; True
        while this worker cannot tell yet."""
        mine = self._conversations.get(conversation, ())
        if any(t.at < at and (queued is None or t.queued < queued) for t in mine):
            return True
        if self._alone:
            return False
        if not self._ready:
            return True
        return await asyncio.to_thread(self._ledger.earlier, conversation, at, besides=self._worker)

    async def _sync(self) -> None:
        """Write presence and leases: at once for new turns and ended ones (while others are
        alive), and every ``RENEW_SECONDS`` for all."""
        loop = asyncio.get_running_loop()
        renew_at = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(renew_at - loop.time(), 0))
            self._changed.clear()
            renew = loop.time() >= renew_at
            writes = not self._alone  # alone, it still renews the turns it wrote before
            hold = [
                t
                for t in self._held.values()
                if (writes or t.id in self._written) and (renew or t.id not in self._written)
            ]
            release = set(self._released)
            if not (renew or hold or release):
                continue
            try:
                peers = await asyncio.to_thread(
                    self._ledger.sync, self._worker, hold, release, writes=writes
                )
            except Exception as exc:  # the leases lapse: waiting copies take them as lost
                log.warning("holding shadow turns failed: %s", exc)
                renew_at = loop.time() + RENEW_SECONDS
                continue
            self._released -= release
            for turn in hold:  # a copy that ended while its lease was being written
                if turn.id in self._held:
                    self._written.add(turn.id)
                else:
                    self._released.add(turn.id)
                    self._changed.set()
            if peers.alive and self._alone:  # no longer alone: write the turns held
                self._changed.set()
            self._alone = not peers.alive
            self._ready = self._ready or not peers.alone  # a worker alone must see this one
            if renew:
                renew_at = loop.time() + (RENEW_SECONDS if self._ready else SETTLE_SECONDS)
