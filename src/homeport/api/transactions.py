"""Route handlers that only do database work run whole on the run engine's database threads.

A plain FastAPI handler with a session dependency costs three thread-pool hops per request (open
the session, the handler, commit), and on SQLite its transaction, reads included, competes with
the engine's writer for the one write lock (the loser sleeps in SQLite's busy handler). A sync
handler decorated with ``reads`` or ``writes`` takes a ``session: Session`` parameter instead,
and the whole handler runs in one transaction on the engine's threads: one hop, writes queued
with the engine's own (``Engine.db_session``), reads on its reader threads, which on SQLite take
no lock (``Engine.read_session``). The transaction commits before the response is sent.

Handlers that also do slow work beside the database (embedding a query, reading a file's bytes)
keep ``SessionDep``: they must not hold a database thread meanwhile.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from homeport.api.deps import ServicesDep
from homeport.services import Services

R = TypeVar("R")
_SERVICES = "homeport_services"


def reads(handler: Callable[..., R]) -> Callable[..., Awaitable[R]]:
    """Run the handler in one read-only transaction on the engine's reader threads."""
    return _on_engine_threads(handler, write=False)


def writes(handler: Callable[..., R]) -> Callable[..., Awaitable[R]]:
    """Run the handler in one transaction on the engine's writer threads."""
    return _on_engine_threads(handler, write=True)


def _on_engine_threads(handler: Callable[..., R], *, write: bool) -> Callable[..., Awaitable[R]]:
    signature = inspect.signature(handler)
    params = [p for name, p in signature.parameters.items() if name != "session"]
    needs = inspect.Parameter(_SERVICES, inspect.Parameter.KEYWORD_ONLY, annotation=ServicesDep)

    @functools.wraps(handler)
    async def endpoint(**kwargs: Any) -> R:
        services: Services = kwargs.pop(_SERVICES)
        engine = services.engine
        assert engine is not None, "the API serves with a run engine"
        run = engine.db_session if write else engine.read_session

        def work(session: Session) -> R:
            return handler(session=session, **kwargs)

        return await run(work)

    # FastAPI reads the parameters from here, and resolves their annotations in the handler's
    # module (it unwraps ``__wrapped__`` for that).
    endpoint.__signature__ = signature.replace(parameters=[*params, needs])  # type: ignore[attr-defined]
    return endpoint
