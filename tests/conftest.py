"""Fixtures every test can use.

- ``scripted_model`` (session): the scripted model server; ``.base_url`` (…/v1), ``.url``,
  ``.model.requests`` (bodies received). Directives are documented in
  ``homeport.testing.scripted_model``.
- ``postgres`` (session): the test PostgreSQL (pgvector), started on first use.
- ``database_url``: a fresh database at the latest schema (a copy of a migrated template),
  parametrized over ``sqlite`` and ``postgresql``; every test using it (directly or through
  the fixtures below) runs on both. ``blank_database_url``: the same without any tables.
- ``settings``: Settings for that database, bootstrap keys and model routes to the scripted model
  (``scripted``, ``gpt-4o-mini``, ``gpt-4o``; ``claude-scripted`` via the Anthropic provider).
- ``homeport_server(**overrides)``: starts homeport (``create_app`` on uvicorn, real HTTP) and
  returns a ``HomeportServer`` (``.base_url``, ``.api_key``, ``.admin_key``, ``.services``,
  ``.client(admin=False)``); overrides are Settings fields. Several calls in one test share the
  database (two homeport processes). All are stopped after the test.
- ``openai_client`` / ``admin_client``: the official ``openai`` SDK on a default server, with the
  normal and the admin key (the admin key may send ``homeport-object-id`` and
  ``homeport-created-at`` headers).

PostgreSQL that cannot start skips its tests with the reason, except when ``CI=true``, where
they fail.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from homeport.config import Settings
from homeport.store.db import Database
from homeport.store.migrate import upgrade
from homeport.testing.scripted_model import ScriptedModelServer
from tests.support.postgres import PostgresUnavailable, TestPostgres
from tests.support.servers import HomeportFactory, HomeportServer, server_settings


@pytest.fixture(scope="session")
def scripted_model() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


@pytest.fixture(scope="session")
def _postgres_state() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {}
    yield state
    if isinstance(state.get("server"), TestPostgres):
        state["server"].close()


@pytest.fixture
def postgres(_postgres_state: dict[str, Any]) -> TestPostgres:
    """The session's PostgreSQL; skipped (failed under CI=true) when it cannot start."""
    if "server" not in _postgres_state:
        try:
            _postgres_state["server"] = TestPostgres()
        except PostgresUnavailable as exc:
            _postgres_state["server"] = exc
    server = _postgres_state["server"]
    if isinstance(server, PostgresUnavailable):
        reason = f"PostgreSQL unavailable: {server}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    assert isinstance(server, TestPostgres)
    return server


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the latest schema, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "homeport.db"
    db = Database(f"sqlite:///{path}")
    try:
        upgrade(db.engine)
    finally:
        db.dispose()  # the last connection to close checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the latest schema: SQLite in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "homeport.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: TestPostgres = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def blank_database_url(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[str]:
    """A fresh empty database (no tables) of the same kind, for migration and start-up tests."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    server: TestPostgres = request.getfixturevalue("postgres")
    url = server.create_database(migrated=False)
    yield url
    server.drop_database(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, scripted_model: ScriptedModelServer) -> Settings:
    return server_settings(database_url, tmp_path / "data", scripted_model)


@pytest.fixture
def homeport_server(
    database_url: str, tmp_path: Path, scripted_model: ScriptedModelServer
) -> Iterator[HomeportFactory]:
    started: list[HomeportServer] = []

    def start(**overrides: Any) -> HomeportServer:
        url = overrides.pop("database_url", database_url)
        config = server_settings(url, tmp_path / "data", scripted_model, **overrides)
        server = HomeportServer(config)
        server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def homeport(homeport_server: HomeportFactory) -> HomeportServer:
    """One homeport server with default test settings."""
    return homeport_server()


@pytest.fixture
def openai_client(homeport: HomeportServer) -> Iterator[openai.OpenAI]:
    with homeport.client() as client:
        yield client


@pytest.fixture
def admin_client(homeport: HomeportServer) -> Iterator[openai.OpenAI]:
    with homeport.client(admin=True) as client:
        yield client


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3-compatible server (moto in server mode) on 127.0.0.1 with a bucket ``homeport``."""
    import boto3
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto keeps its buckets per process, not per server: start from none.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket="homeport")
    yield url
    server.stop()
