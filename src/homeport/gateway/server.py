"""Build a gateway from its config and serve it (uvicorn, uvloop, httptools)."""

from __future__ import annotations

import uvicorn
from sqlalchemy import inspect

from homeport.gateway.app import Gateway
from homeport.gateway.config import GatewayConfig
from homeport.gateway.pairs import load_sink
from homeport.gateway.routing import StaticRouting, store_routing
from homeport.gateway.seams import RoutingSource
from homeport.store.bootstrap import SchemaBehind
from homeport.store.db import Database
from homeport.store.migrate import is_current, upgrade


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


def serve_gateway(config: GatewayConfig) -> None:
    gateway = build_gateway(config)
    uvicorn.run(
        gateway,
        host=config.host,
        port=config.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
