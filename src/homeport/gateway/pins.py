"""Conversation pins: which side owns a thread, conversation or stored response.

Hot path: a pin is read from the process cache; only a never-seen ID costs one indexed SELECT
(run in a thread, so the event loop never waits on the database). Absence is cached too. That is
safe because a pin is written once, *before* the ID it names reaches any client: an ID that had
no pin when a replica looked it up is a legacy object and will never get one.

A pin changes only when an evacuation moves its conversation to the managed side. The mover
raises the rollout's pins epoch in the same transaction; each replica sees the new epoch in its
routing state (every ``refresh_seconds``) and calls :meth:`PinStore.advance`, which re-reads the
pins changed since the epoch the cache reflects (one indexed SELECT) and replaces them in place.

Writes are group-committed: requests that create conversations enqueue their pin and await its
future; one writer task commits everything queued in one transaction, then wakes them. The
response that reveals the new ID is held until that commit is done, so no replica can be asked
about an ID whose pin is not durable yet.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from homeport.gateway.seams import Upstream
from homeport.store.db import Database
from homeport.store.models.gateway import GatewayPin

log = logging.getLogger("homeport.gateway.pins")

WRITE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Pin:
    side: Upstream
    conversation: str  # the conversation the pinned object belongs to
    moved: bool = False  # the conversation was evacuated: requests naming it need its ID map
    shadowed: bool = False  # created while shadowing: its copy is (or was) on its way


@dataclass(frozen=True, slots=True)
class _NewPin:
    key: str
    kind: str
    pin: Pin


class PinStore:
    def __init__(self, db: Database, cache_size: int, gateway: str) -> None:
        self._db = db
        self._gateway = gateway
        self.epoch = 0  # the pins epoch the cache reflects
        self._cache: dict[str, Pin | None] = {}
        self._cache_size = cache_size
        self._queue: list[tuple[_NewPin, asyncio.Future[Pin]]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="gateway-pin-writer")

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        for _, future in self._queue:
            future.cancel()

    def cached(self, key: str) -> tuple[bool, Pin | None]:
        """(known, pin) without I/O; ``known`` is False when the cache has no answer."""
        if key in self._cache:
            return True, self._cache[key]
        return False, None

    async def get(self, key: str) -> Pin | None:
        known, pin = self.cached(key)
        if known:
            return pin
        epoch = self.epoch
        pin = await asyncio.to_thread(self._load, key)
        if epoch == self.epoch:  # else the row may predate a move ``advance`` just applied
            self._remember(key, pin)
        return pin

    async def advance(self, epoch: int) -> set[str]:
        """Take the pins moved after the cached epoch up to ``epoch``; returns the conversations
        whose pins moved (their ID maps are stale)."""
        if epoch <= self.epoch:
            return set()
        if not self._cache:  # nothing cached (a fresh replica): later lookups read the rows
            self.epoch = epoch
            return set()
        moved = await asyncio.to_thread(self._moved_since, self.epoch)
        for key, pin in moved.items():
            if key in self._cache:
                self._cache[key] = pin
        self.epoch = epoch
        return {pin.conversation for pin in moved.values()}

    async def put(self, key: str, kind: str, pin: Pin) -> Pin:
        """Durably pin ``key``; returns the pin in force (an earlier writer's, if any)."""
        future: asyncio.Future[Pin] = asyncio.get_running_loop().create_future()
        self._queue.append((_NewPin(key, kind, pin), future))
        self._wake.set()
        return await future

    def _remember(self, key: str, pin: Pin | None) -> None:
        if len(self._cache) >= self._cache_size:
            # Evict the oldest entry (dicts keep insertion order).
            del self._cache[next(iter(self._cache))]
        self._cache[key] = pin

    def _load(self, key: str) -> Pin | None:
        with self._db.session() as session:
            row = session.execute(select(*_PIN_COLUMNS).where(GatewayPin.key == key)).first()
        return None if row is None else _pin(row)

    def _moved_since(self, epoch: int) -> dict[str, Pin]:
        with self._db.session() as session:
            rows = session.execute(
                select(GatewayPin.key, *_PIN_COLUMNS).where(
                    GatewayPin.gateway == self._gateway, GatewayPin.epoch > epoch
                )
            ).all()
        return {r.key: _pin(r) for r in rows}

    def _write(self, batch: list[_NewPin]) -> dict[str, Pin]:
        insert = pg_insert if self._db.dialect == "postgresql" else sqlite_insert
        rows = [
            {
                "key": p.key,
                "kind": p.kind,
                "side": p.pin.side.value,
                "conversation": p.pin.conversation,
                "gateway": self._gateway,
                # An object created in an evacuated conversation carries the mark (epoch > 0).
                "epoch": max(self.epoch, 1) if p.pin.moved else 0,
                "shadowed": p.pin.shadowed,
            }
            for p in batch
        ]
        with self._db.session() as session:
            session.execute(
                insert(GatewayPin).values(rows).on_conflict_do_nothing(index_elements=["key"])
            )
            found = session.execute(
                select(GatewayPin.key, *_PIN_COLUMNS).where(
                    GatewayPin.key.in_([p.key for p in batch])
                )
            ).all()
        return {r.key: _pin(r) for r in found}

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            written: dict[str, Pin] | None = None
            error: Exception | None = None
            for attempt in range(WRITE_ATTEMPTS):
                try:
                    written = await asyncio.to_thread(self._write, [p for p, _ in batch])
                    break
                except Exception as exc:  # a database error: retry, then fail the requests
                    error = exc
                    log.warning("pin write failed (attempt %d): %s", attempt + 1, exc)
                    await asyncio.sleep(0.05 * (attempt + 1))
            for new, future in batch:
                if future.done():
                    continue
                if written is not None and new.key in written:
                    self._remember(new.key, written[new.key])
                    future.set_result(written[new.key])
                else:
                    future.set_exception(PinWriteError(f"could not record pin {new.key}: {error}"))


_PIN_COLUMNS = (GatewayPin.side, GatewayPin.conversation, GatewayPin.epoch, GatewayPin.shadowed)


def _pin(row: Any) -> Pin:
    return Pin(Upstream(row.side), row.conversation, moved=row.epoch > 0, shadowed=row.shadowed)


class PinWriteError(Exception):
    """A new conversation's pin could not be made durable; its ID must not be returned."""
