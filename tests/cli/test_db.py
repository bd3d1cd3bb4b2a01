"""``homeport db upgrade|status`` and ``homeport init``."""

from __future__ import annotations

import json
from pathlib import Path

from homeport.config import load_settings
from tests.cli.conftest import Invoke, RunCommand


def test_status_upgrade_status(invoke: Invoke) -> None:
    before = json.loads(invoke("db", "status", "--json").stdout)
    assert before["current"] == []
    assert before["heads"] and before["up_to_date"] is False

    upgraded = invoke("db", "upgrade")
    assert upgraded.exit_code == 0
    assert upgraded.stdout.startswith("database at ")

    after = json.loads(invoke("db", "status", "--json").stdout)
    assert after == {"current": before["heads"], "heads": before["heads"], "up_to_date": True}
    assert "latest:" in invoke("db", "status").stdout


def test_upgrade_is_idempotent(invoke: Invoke) -> None:
    first = invoke("db", "upgrade").stdout
    assert invoke("db", "upgrade").stdout == first


def test_init_writes_a_loadable_config(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("init")
    assert result.stdout.strip() == "wrote homeport.toml"
    settings = load_settings(tmp_path / "homeport.toml")
    assert settings.models[0].name == "gpt-4o-mini"


def test_init_refuses_to_overwrite_without_force(
    invoke: Invoke, homeport_command: RunCommand, tmp_path: Path
) -> None:
    target = tmp_path / "custom.toml"
    target.write_text("# mine\n")
    refused = homeport_command("init", str(target))
    assert refused.returncode == 1
    assert "exists: pass --force to overwrite it" in refused.stderr
    assert target.read_text() == "# mine\n"
    invoke("init", str(target), "--force")
    assert target.read_text().startswith("# homeport configuration")


def test_bad_setting_is_one_line_error(homeport_command: RunCommand, tmp_path: Path) -> None:
    (tmp_path / "homeport.toml").write_text("[engine]\nworkers = 'lots'\n")
    result = homeport_command("db", "status")
    assert result.returncode == 1
    assert result.stderr.startswith("error: setting 'engine.workers'")
    assert len(result.stderr.strip().splitlines()) == 1
