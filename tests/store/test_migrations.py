"""Migrations from a blank database produce exactly the schema the models describe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from homeport.config import Settings
from homeport.services import Services
from homeport.store.bootstrap import SchemaBehind, prepare_database
from homeport.store.db import Database
from homeport.store.migrate import current_revisions, head_revisions, is_current, upgrade
from homeport.store.models import Base
from homeport.testing.scripted_model import ScriptedModelServer
from tests.support.servers import server_settings


@pytest.fixture
def db(blank_database_url: str) -> Iterator[Database]:
    database = Database(blank_database_url)
    yield database
    database.dispose()


@pytest.fixture
def blank_settings(
    blank_database_url: str, tmp_path: Path, scripted_model: ScriptedModelServer
) -> Settings:
    return server_settings(blank_database_url, tmp_path / "data", scripted_model)


def test_blank_database_migrates_to_heads(db: Database) -> None:
    assert current_revisions(db.engine) == set()
    upgrade(db.engine)
    assert current_revisions(db.engine) == head_revisions(db.engine)
    assert is_current(db.engine)


def test_migrated_schema_matches_models(db: Database) -> None:
    upgrade(db.engine)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_every_model_table_exists(db: Database) -> None:
    upgrade(db.engine)
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_start_up_migrates_an_empty_database(blank_settings: Settings) -> None:
    services = Services.from_settings(blank_settings)
    try:
        prepare_database(services)
        assert is_current(services.db.engine)
        prepare_database(services)  # a second start finds it current
    finally:
        services.db.dispose()


def test_start_up_refuses_a_database_behind(blank_settings: Settings) -> None:
    services = Services.from_settings(blank_settings)
    try:
        upgrade(services.db.engine, "0001")
        assert not is_current(services.db.engine)
        with pytest.raises(SchemaBehind, match="homeport db upgrade"):
            prepare_database(services)
    finally:
        services.db.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_upgrade_rebuilds_vector_indexes_built_with_old_settings(blank_database_url: str) -> None:
    database = Database(blank_database_url)
    try:
        upgrade(database.engine, "0025")
        with database.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE INDEX ix_knowledge_chunks_hnsw_3 ON knowledge_chunks "
                "USING hnsw ((embedding::vector(3)) vector_cosine_ops) WHERE dims = 3"
            )
        upgrade(database.engine)
        with database.engine.connect() as conn:
            options = conn.exec_driver_sql(
                "SELECT reloptions FROM pg_class WHERE relname = 'ix_knowledge_chunks_hnsw_3'"
            ).scalar_one()
        assert sorted(options) == ["ef_construction=200", "m=16"]
    finally:
        database.dispose()
