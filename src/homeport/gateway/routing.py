"""The routing state every replica follows, and the assignment of new conversations.

The state is read through a :class:`~homeport.gateway.seams.RoutingSource` every
``refresh_seconds`` in a background task; requests read :attr:`RoutingCache.current`, a plain
attribute, so routing never waits on the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
from collections.abc import Awaitable, Callable

from homeport.config import ConfigError
from homeport.gateway.seams import (
    STORE_ROUTING_FACTORY,
    Mode,
    RoutingSource,
    RoutingState,
    Upstream,
)
from homeport.store.db import Database

log = logging.getLogger("homeport.gateway.routing")

_SCALE = float(1 << 64)


def hash_share(salt: str, key: str) -> float:
    """A uniform number in [0, 1) fixed by (salt, key)."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def new_conversation_side(state: RoutingState, key: str) -> Upstream:
    """Where a new conversation (or a stateless call) goes under ``state``.

    In canary mode the key's hash share is compared with the weight, so raising the weight only
    adds keys to homeport: a key on homeport at weight w stays there at any w' > w.
    """
    if state.mode is Mode.FULL:
        return Upstream.HOMEPORT
    if state.mode is Mode.CANARY and hash_share(state.salt, key) < state.weight:
        return Upstream.HOMEPORT
    return Upstream.MANAGED


def unpinned_side(state: RoutingState) -> Upstream:
    """Where an existing object with no pin lives: it predates the gateway, so managed, until
    full cutover (by then the final import has copied it to homeport)."""
    return Upstream.HOMEPORT if state.mode is Mode.FULL else Upstream.MANAGED


class StaticRouting:
    """The state written in the gateway's config file."""

    def __init__(self, state: RoutingState) -> None:
        self._state = state

    def read(self) -> RoutingState:
        return self._state


def store_routing(db: Database, name: str) -> RoutingSource:
    """The rollout's store-backed source (``STORE_ROUTING_FACTORY``)."""
    module_name, _, attr = STORE_ROUTING_FACTORY.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f'routing = "store" needs {STORE_ROUTING_FACTORY}, which is not available ({exc}): '
            'use routing = "static"'
        ) from exc
    source: RoutingSource = factory(db, name)
    return source


class RoutingCache:
    def __init__(self, source: RoutingSource, initial: RoutingState, refresh_seconds: float):
        self.current = initial
        self._source = source
        self._refresh = refresh_seconds
        self._task: asyncio.Task[None] | None = None
        # Called with every state read (changed or not), e.g. to follow the pins epoch.
        self.on_read: Callable[[RoutingState], Awaitable[None]] | None = None

    async def refresh(self) -> None:
        try:
            state = await asyncio.to_thread(self._source.read)
        except Exception as exc:  # keep serving the last known state
            log.warning("reading the routing state failed, keeping the last one: %s", exc)
            return
        if state is not None and self.on_read is not None:
            await self.on_read(state)
        if state is not None and state != self.current:
            log.info(
                "routing: mode=%s weight=%.3f phase=%s version=%d",
                state.mode.value,
                state.weight,
                state.phase,
                state.version,
            )
            self.current = state

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="gateway-routing-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            await self.refresh()
