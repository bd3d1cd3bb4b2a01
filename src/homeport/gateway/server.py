"""Build a gateway from its config and serve it (``http_server`` on uvloop)."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable

import uvloop
from sqlalchemy import inspect

from homeport.config import ConfigError
from homeport.gateway.app import Gateway
from homeport.gateway.config import GatewayConfig
from homeport.gateway.http_server import HttpServer
from homeport.gateway.pairs import load_sink
from homeport.gateway.routing import StaticRouting, store_routing
from homeport.gateway.seams import RoutingSource
from homeport.heap import freeze_startup_objects
from homeport.store.bootstrap import SchemaBehind
from homeport.store.db import Database
from homeport.store.migrate import is_current, upgrade

STOP_GRACE_SECONDS = 30.0  # answers in progress at shutdown (streams can be long)


def open_database(url: str) -> Database:
    """The gateway's store: an empty database gets the schema, an old one is refused."""
    db = Database(url)
    if not inspect(db.engine).get_table_names():
        upgrade(db.engine)
    elif not is_current(db.engine):
        db.dispose()
        raise SchemaBehind(
            "The database schema is older than this homeport: run 'homeport db upgrade' first."
        )
    return db


def build_gateway(config: GatewayConfig) -> Gateway:
    db = open_database(config.database_url)
    source: RoutingSource = (
        store_routing(db, config.name)
        if config.routing == "store"
        else StaticRouting(config.initial_state())
    )
    load_sink(config.shadow, db, config.name)  # a bad sink fails here, not in the shadow worker
    return Gateway(config, db=db, source=source)


async def run_gateway(
    gateway: Gateway,
    stop: asyncio.Event,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sock: socket.socket | None = None,
    before_listening: Callable[[], None] = lambda: None,
    started: Callable[[], None] = lambda: None,
) -> None:
    """Start the gateway, serve it on ``host:port`` (or ``sock``) until ``stop`` is set, then
    let answers in progress finish and stop it."""
    await gateway.start()
    server = HttpServer(gateway.handle, gateway.config.keep_alive_seconds)
    try:
        before_listening()
        await server.start(host, port, sock)
        started()
        await stop.wait()
    finally:
        await server.stop(STOP_GRACE_SECONDS)
        await gateway.stop()


def serve_gateway(config: GatewayConfig) -> None:
    """Serve until SIGINT or SIGTERM (uvloop)."""
    gateway = build_gateway(config)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_gateway(
            gateway,
            stop,
            host=config.host,
            port=config.port,
            before_listening=freeze_startup_objects,
        )

    try:
        uvloop.run(main())
    except OSError as exc:  # the address is taken or not this host's
        raise ConfigError(
            f"settings 'host'/'port': cannot listen on {config.host}:{config.port}: {exc}"
        ) from None
