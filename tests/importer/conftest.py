"""Importer fixtures: the sample deployment as a bundle, and a migrated empty store."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.config import Settings
from homeport.sample import generate
from homeport.services import Services
from homeport.sources.base import make_source, run_export
from homeport.store.bootstrap import prepare_database


@pytest.fixture(scope="session")
def sample_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dump = tmp_path_factory.mktemp("dump")
    generate(dump, threads=60)
    out = tmp_path_factory.mktemp("bundles") / "sample"
    run_export(make_source("openai-objects", {"path": dump}), out)
    return out


@pytest.fixture
def services(settings: Settings) -> Services:
    services = Services.from_settings(settings)
    prepare_database(services)
    yield services
    services.db.dispose()
