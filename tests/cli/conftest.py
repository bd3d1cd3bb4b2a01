"""CLI fixtures: run ``homeport`` in-process (CliRunner) or as the installed command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from homeport.cli.main import app

Invoke = Callable[..., Result]
RunCommand = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli_env(
    blank_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Environment pointing every command at a blank test database, in an empty directory.
    (``homeport_server`` in the same test serves ``database_url``, another database.)"""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOMEPORT_CONFIG", raising=False)
    return {
        "HOMEPORT_DATABASE_URL": blank_database_url,
        "HOMEPORT_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.fixture
def invoke(cli_env: dict[str, str]) -> Invoke:
    """``invoke("keys", "list", "--json")``: the command in-process; exceptions propagate."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), env=cli_env, catch_exceptions=False)

    return run


@pytest.fixture
def homeport_command(cli_env: dict[str, str]) -> RunCommand:
    """The ``homeport`` entry point in a subprocess, as a user runs it."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", "from homeport.cli.main import main; main()", *args]
        env = {**os.environ, **cli_env}
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    return run
