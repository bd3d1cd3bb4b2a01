"""The services one homeport process holds: settings, database, metrics, run engine.

Built by ``create_app`` or the CLI, never at import time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeport.config import Settings
from homeport.metrics import Metrics
from homeport.store.db import Database
from homeport.store.keys import Principal
from homeport.store.repos.agents import AgentCache

if TYPE_CHECKING:
    from homeport.engine.engine import Engine


@dataclass
class Services:
    settings: Settings
    db: Database
    metrics: Metrics = field(default_factory=Metrics)
    # Verified API keys and when the check expires (monotonic seconds).
    key_cache: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    # Lookups of keys in progress, shared by the requests that carry the same key meanwhile.
    key_checks: dict[str, asyncio.Future[Principal | None]] = field(default_factory=dict)
    # Assistants as run creation last read them (PostgreSQL; checked in the transaction).
    agent_cache: AgentCache = field(default_factory=AgentCache)
    engine: Engine | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        from homeport.engine.engine import Engine

        services = cls(settings=settings, db=Database(settings.database_url))
        services.engine = Engine(services)
        return services
