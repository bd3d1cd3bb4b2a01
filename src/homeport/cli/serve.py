"""``homeport serve``: the OpenAI-compatible API (and, by default, an embedded run worker).

With ``--workers N`` (or the ``workers`` setting) above 1, N API processes share the port, each
with its own run engine, so runs use more than one core. uvicorn's supervisor runs them: the
parent migrates the database once, binds the socket, starts the children (which import
``process_app``), restarts a child that dies (logged), and on Ctrl-C / SIGTERM stops them all
and waits for their shutdown. The children keep their metrics in a directory the parent makes
and removes (``homeport.metrics``), so any of them answers a scrape for all. Several processes
need PostgreSQL: their claims share the runs table (``SKIP LOCKED``) and their commits wake
each other's streams and waits (``NOTIFY``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from homeport.cli.common import fail, settings, state

if TYPE_CHECKING:
    from fastapi import FastAPI

    from homeport.config import Settings

SQLITE_ONE_PROCESS = (
    "--workers above 1 needs PostgreSQL (SQLite has one writer and no cross-process wake-ups): "
    "serve one process, or set database_url to a PostgreSQL database"
)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="API processes on the port, each executing runs (default: 1; PostgreSQL)."
        ),
    ] = None,
) -> None:
    """Serve the API."""
    import uvicorn

    from homeport.api.app import create_app
    from homeport.heap import freeze_startup_objects
    from homeport.logs import configure_logging

    given = {"host": host, "port": port, "workers": workers}
    config = settings(**{k: v for k, v in given.items() if v is not None})
    configure_logging(config.log_level, config.log_json)
    if config.workers == 1:
        app = create_app(config, before_serving=freeze_startup_objects)
        uvicorn.run(
            app,
            host=config.host,
            port=config.port,
            timeout_keep_alive=config.keep_alive_seconds,
            log_level="warning",
            access_log=False,
        )
        return
    if config.is_sqlite:
        raise fail(SQLITE_ONE_PROCESS)
    _serve_processes(config)


def _serve_processes(config: Settings) -> None:
    import logging
    import shutil
    import tempfile

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from homeport.metrics import SHARED_DIR_ENV
    from homeport.services import Services
    from homeport.store.bootstrap import prepare_database
    from homeport.store.db import Database

    services = Services(settings=config, db=Database(config.database_url))
    try:
        prepare_database(services)  # once, before any process serves
    finally:
        services.db.dispose()
    # The children read the same settings: the config file and these values from the
    # environment they inherit.
    if state.config_path:
        os.environ["HOMEPORT_CONFIG"] = state.config_path
    os.environ["HOMEPORT_HOST"] = config.host
    os.environ["HOMEPORT_PORT"] = str(config.port)
    server = uvicorn.Config(
        f"{__name__}:process_app",
        factory=True,
        host=config.host,
        port=config.port,
        workers=config.workers,
        timeout_keep_alive=config.keep_alive_seconds,
        log_level="warning",
        access_log=False,
    )
    socket = server.bind_socket()
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)  # children started, died, stopped
    shared = tempfile.mkdtemp(prefix="homeport-metrics-")
    os.environ[SHARED_DIR_ENV] = shared
    try:
        Multiprocess(server, sockets=[socket]).run()
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def process_app() -> FastAPI:
    """The app of one of several ``serve`` processes (uvicorn's children import it)."""
    from homeport.api.app import create_app
    from homeport.heap import freeze_startup_objects
    from homeport.logs import configure_logging

    config = settings()
    configure_logging(config.log_level, config.log_json)
    return create_app(config, before_serving=freeze_startup_objects)
