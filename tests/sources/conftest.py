"""Source fixtures: the sample managed deployment as a dump, as a bundle, and served by the fake
Assistants platform."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.bundle import open_bundle
from homeport.sample import generate
from homeport.sources.base import make_source, run_export
from homeport.testing.background import BackgroundServer
from homeport.testing.fake_assistants_platform import FakeAssistantsPlatform, PlatformData

API_VERSION = "2025-05-01-preview"


@pytest.fixture(scope="session")
def sample_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dump")
    generate(out, threads=100)
    return out


@pytest.fixture(scope="session")
def sample_bundle(sample_dump: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "sample"
    run_export(make_source("openai-objects", {"path": sample_dump}), out)
    return out


@pytest.fixture(scope="session")
def platform_data(sample_bundle: Path) -> PlatformData:
    with open_bundle(sample_bundle) as reader:
        return PlatformData.from_bundle(reader)


def serve_platform(
    data: PlatformData, **options: Any
) -> Iterator[tuple[str, FakeAssistantsPlatform]]:
    platform = FakeAssistantsPlatform(data, **options)
    with BackgroundServer(platform.app) as server:
        yield server.url + platform.base_path, platform


@pytest.fixture
def azure_platform(platform_data: PlatformData) -> Iterator[tuple[str, FakeAssistantsPlatform]]:
    """Azure-style (api-key + api-version), 300 requests/s with bursts of 5, a 503 every 9th."""
    yield from serve_platform(
        platform_data, api_version=API_VERSION, rate=300, burst=5, fail_every=9
    )
