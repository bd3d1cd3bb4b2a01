"""Readiness checks, and the probe endpoints of ``homeport worker``.

The API serves ``/healthz``, ``/readyz`` and ``/metrics`` itself (api/health.py). A worker
serves no API, yet it is where runs execute, so its model-call latencies, tokens and run
outcomes are only in its own registry: ``homeport worker --metrics-port N`` answers the same
three paths on the gateway's lean HTTP server, in the worker's event loop.
"""

from __future__ import annotations

import asyncio

import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from homeport.gateway.http_server import Connection, HttpServer, Request
from homeport.metrics import exposition
from homeport.services import Services
from homeport.store.migrate import is_current

STOP_GRACE_SECONDS = 1.0


def readiness(services: Services, executes_runs: bool) -> dict[str, str]:
    """Each check's outcome (``ok`` or why not): the database, its schema, and the run engine
    (checked when this process ``executes_runs``)."""
    checks: dict[str, str] = {}
    try:
        with services.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
        checks["schema"] = "ok" if is_current(services.db.engine) else "behind: homeport db upgrade"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    engine = services.engine
    running = engine is None or engine.running  # a process without an engine runs nothing
    checks["engine"] = "ok" if running or not executes_runs else "stopped"
    return checks


def ready(checks: dict[str, str]) -> bool:
    return all(value == "ok" for value in checks.values())


class Probes:
    """``/healthz`` (the engine is running), ``/readyz`` (and the database answers, at the
    schema this homeport expects) and ``/metrics`` for a worker process."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._server = HttpServer(self.handle)

    async def start(self, host: str, port: int) -> None:
        await self._server.start(host, port)

    async def stop(self) -> None:
        await self._server.stop(STOP_GRACE_SECONDS)

    async def handle(self, request: Request, send: Connection) -> None:
        engine = self.services.engine
        if request.path == "/metrics":
            await send.reply(200, exposition(self.services.metrics), CONTENT_TYPE_LATEST.encode())
        elif request.path == "/healthz":
            alive = engine is not None and engine.running
            await send.reply(
                200 if alive else 503, orjson.dumps({"status": "ok" if alive else "stopped"})
            )
        elif request.path == "/readyz":
            checks = await asyncio.to_thread(readiness, self.services, True)
            body = {"status": "ok" if ready(checks) else "unavailable", "checks": checks}
            await send.reply(200 if ready(checks) else 503, orjson.dumps(body))
        else:
            await send.reply(404, orjson.dumps({"error": f"no such path: {request.path}"}))
