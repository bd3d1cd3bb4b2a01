"""A bundle of recorded conversations, made the way a team would: the sample deployment's
dump exported through the ``openai-objects`` source."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.sample import generate
from homeport.sources.base import make_source, run_export


@pytest.fixture(scope="session")
def sample_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    generate(root / "dump", threads=12, seed=11)
    run_export(make_source("openai-objects", {"path": str(root / "dump")}), root / "bundle")
    return root / "bundle"
