"""``homeport worker``: execute runs without serving the API (scale-out next to ``serve``).

Workers share the runs table with every other homeport process: on PostgreSQL any number of them
claim runs with ``FOR UPDATE SKIP LOCKED``. SIGINT/SIGTERM stop claiming, let running runs finish
for a grace period and fail the rest honestly. ``--metrics-port`` serves the worker's
``/healthz``, ``/readyz`` and ``/metrics`` (``homeport.probes``).
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from homeport.cli.common import fail, print_json, settings

if TYPE_CHECKING:
    from homeport.services import Services


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Runs executed at once (default: engine.workers).")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Serve /healthz, /readyz and /metrics on this port (on the `host` setting).",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on exit.")
    ] = False,
) -> None:
    """Execute queued runs until stopped (Ctrl-C)."""
    import asyncio

    from homeport.logs import configure_logging
    from homeport.services import Services
    from homeport.store.bootstrap import prepare_database

    config = settings()
    if concurrency is not None:
        config = config.model_copy(
            update={"engine": config.engine.model_copy(update={"workers": concurrency})}
        )
    configure_logging(config.log_level, config.log_json)
    services = Services.from_settings(config)
    prepare_database(services)
    owner = asyncio.run(_work(services, metrics_port))
    if json_output:
        print_json({"owner": owner, "stopped": True})


async def _work(services: Services, metrics_port: int | None) -> str:
    import asyncio

    from homeport.heap import freeze_startup_objects
    from homeport.knowledge.worker import IngestWorker
    from homeport.probes import Probes

    engine = services.engine
    assert engine is not None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    probes = Probes(services)
    if metrics_port is not None:
        host = services.settings.host
        try:
            await probes.start(host, metrics_port)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise fail(f"cannot serve metrics on {host}:{metrics_port}: {reason}") from None
    await engine.start()
    ingest = IngestWorker(services)  # vector store files are indexed here too
    ingest.start()
    freeze_startup_objects()
    try:
        await stop.wait()
    finally:
        await ingest.stop()
        await engine.stop()
        await probes.stop()
        services.db.dispose()
    return engine.owner
