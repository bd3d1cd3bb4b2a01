"""Start-up: an empty database is migrated; a database behind the code is refused with the fix."""

from __future__ import annotations

import logging

from sqlalchemy import inspect

from homeport.errors import HomeportError
from homeport.services import Services
from homeport.store import keys
from homeport.store.migrate import is_current, upgrade

log = logging.getLogger("homeport.store")


class SchemaBehind(HomeportError):
    pass


def prepare_database(services: Services) -> None:
    engine = services.db.engine
    if not inspect(engine).get_table_names():
        log.info("empty database: creating the schema")
        upgrade(engine)
    elif not is_current(engine):
        raise SchemaBehind(
            "The database schema is older than this homeport: run 'homeport db upgrade' first."
        )
    settings = services.settings
    with services.db.session() as session:
        keys.ensure_project(session, settings.default_project)
        if settings.bootstrap_api_key:
            keys.ensure_key(
                session,
                project=settings.default_project,
                name="bootstrap",
                secret=settings.bootstrap_api_key,
                admin=False,
            )
        if settings.bootstrap_admin_key:
            keys.ensure_key(
                session,
                project=settings.default_project,
                name="bootstrap-admin",
                secret=settings.bootstrap_admin_key,
                admin=True,
            )
