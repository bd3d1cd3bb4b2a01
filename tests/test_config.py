"""Settings: TOML file, environment overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.config import STARTER_CONFIG, ConfigError, load_settings


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOMEPORT_CONFIG", raising=False)


def test_defaults_without_a_file() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///homeport.db"
    assert settings.models == []
    assert settings.is_sqlite


def test_reads_homeport_toml_from_working_directory(tmp_path: Path) -> None:
    (tmp_path / "homeport.toml").write_text(
        'port = 9000\n[engine]\nworkers = 3\n[[models]]\nname = "m"\nbase_url = "http://x/v1"\n'
    )
    settings = load_settings()
    assert settings.port == 9000
    assert settings.engine.workers == 3
    route = settings.route("m")
    assert route is not None and route.upstream == "m" and route.provider == "openai"
    assert settings.route("other") is None


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "custom.toml"
    path.write_text('port = 9000\nlog_level = "debug"\n[engine]\nworkers = 3\n')
    monkeypatch.setenv("HOMEPORT_PORT", "9100")
    monkeypatch.setenv("HOMEPORT_ENGINE__LEASE_SECONDS", "7.5")
    monkeypatch.setenv("HOMEPORT_CONFIG", str(path))
    settings = load_settings()
    assert settings.port == 9100
    assert settings.log_level == "debug"
    assert settings.engine.lease_seconds == 7.5
    assert settings.engine.workers == 3


def test_explicit_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEPORT_PORT", "9100")
    assert load_settings(port=9200).port == 9200


def test_starter_config_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "homeport.toml"
    path.write_text(STARTER_CONFIG)
    settings = load_settings(path)
    assert [r.name for r in settings.models] == ["gpt-4o-mini"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("port = 'high'\n", "port"),
        ("[engine]\nlease_seconds = 'long'\n", "engine.lease_seconds"),
        ("colour = 'blue'\n", "colour"),
        ("[[models]]\nname = 'a'\nprovider = 'nope'\n", "models.0.provider"),
    ],
)
def test_bad_value_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "homeport.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"setting '{key}'"):
        load_settings(path)


def test_bad_environment_value_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEPORT_ENGINE__WORKERS", "many")
    with pytest.raises(ConfigError, match=r"engine\.workers"):
        load_settings()


def test_duplicate_model_route_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "homeport.toml"
    path.write_text("[[models]]\nname = 'a'\n[[models]]\nname = 'a'\n")
    with pytest.raises(ConfigError, match="'a' is defined twice"):
        load_settings(path)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "homeport.toml"
    path.write_text("port = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)
    with pytest.raises(ConfigError, match="homeport init"):
        load_settings(tmp_path / "missing.toml")


def test_route_api_key_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "homeport.toml"
    path.write_text("[[models]]\nname = 'a'\napi_key_env = 'UPSTREAM_KEY'\n")
    monkeypatch.setenv("UPSTREAM_KEY", "sk-upstream")
    route = load_settings(path).route("a")
    assert route is not None and route.resolved_api_key() == "sk-upstream"
