"""One settings object for homeport.

Values come, lowest precedence first, from defaults, a TOML file (``homeport.toml`` in the working
directory, or the path given by ``--config`` / ``HOMEPORT_CONFIG``) and ``HOMEPORT_*`` environment
variables (nested keys with ``__``: ``HOMEPORT_ENGINE__LEASE_SECONDS=30``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from homeport.knowledge.settings import KnowledgeSettings
from homeport.rollout.plan import RolloutPlan

DEFAULT_CONFIG_FILE = "homeport.toml"


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the key and the fix."""


class ModelRoute(BaseModel):
    """Maps the model name clients ask for to a provider and the upstream's own model name."""

    name: str
    provider: Literal["openai", "anthropic"] = "openai"
    upstream_model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    timeout_seconds: float = 120.0
    max_retries: int = 2
    extra_headers: dict[str, str] = Field(default_factory=dict)
    context_window: int = 128_000

    @property
    def upstream(self) -> str:
        return self.upstream_model or self.name

    def resolved_api_key(self) -> str | None:
        if self.api_key:
            return self.api_key
        if self.api_key_env:
            return os.environ.get(self.api_key_env)
        return None


class EngineSettings(BaseModel):
    """The run engine: leases, heartbeats, concurrency and limits."""

    workers: int = 64
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    poll_seconds: float = 0.5
    run_expiry_seconds: int = 600
    max_tool_rounds: int = 16
    embedded_worker: bool = True


KEEP_ALIVE_SECONDS = 75
"""How long homeport's servers keep an idle client connection open: longer than what reuses
connections in front of them keeps them (load balancers commonly 60 s, the gateway's upstream
pool 60 s, the OpenAI SDK 5 s), so a server never closes one just as a request goes out on it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HOMEPORT_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = "sqlite:///homeport.db"
    data_dir: Path = Path("homeport-data")
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = Field(1, ge=1)
    """API processes ``homeport serve`` runs on the port (each with its own run engine)."""
    keep_alive_seconds: int = Field(KEEP_ALIVE_SECONDS, ge=1)
    """How long an idle client connection is kept open (see ``KEEP_ALIVE_SECONDS``)."""
    log_level: str = "info"
    log_json: bool = True
    bootstrap_api_key: str | None = None
    bootstrap_admin_key: str | None = None
    default_project: str = "default"
    models: list[ModelRoute] = Field(default_factory=list)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    rollout: RolloutPlan = Field(default_factory=RolloutPlan)
    max_request_bytes: int = 64 * 1024 * 1024

    @field_validator("models")
    @classmethod
    def _unique_models(cls, routes: list[ModelRoute]) -> list[ModelRoute]:
        seen: set[str] = set()
        for route in routes:
            if route.name in seen:
                raise ValueError(f"model route {route.name!r} is defined twice")
            seen.add(route.name)
        return routes

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    def route(self, model: str) -> ModelRoute | None:
        for route in self.models:
            if route.name == model:
                return route
        return None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read the TOML file (if any), then env vars, then explicit overrides."""
    explicit = config_path or os.environ.get("HOMEPORT_CONFIG")
    path = Path(explicit) if explicit else Path(DEFAULT_CONFIG_FILE)
    file_values: dict[str, Any] = {}
    if path.exists():
        file_values = _read_toml(path)
    elif explicit:
        raise ConfigError(f"config file {path} does not exist: create it with 'homeport init'")
    env_only = {k: v for k, v in file_values.items() if f"HOMEPORT_{k.upper()}" in os.environ}
    for key in env_only:
        file_values.pop(key)
    try:
        return Settings(**{**file_values, **overrides})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")  # a validator's own words
        raise ConfigError(f"setting '{key}': {message}") from exc


STARTER_CONFIG = """\
# homeport configuration. Every key can be overridden by an environment variable:
# HOMEPORT_<KEY>, nested keys joined by '__' (HOMEPORT_ENGINE__LEASE_SECONDS=30).

# Where state lives. SQLite (WAL) by default; PostgreSQL for production and scale-out:
# database_url = "postgresql+psycopg://homeport:secret@db:5432/homeport"
database_url = "sqlite:///homeport.db"

# Blobs (uploaded files), local embedding caches and other data.
data_dir = "homeport-data"

host = "127.0.0.1"
port = 8080
workers = 1             # API processes 'homeport serve' runs on the port (more need PostgreSQL)
keep_alive_seconds = 75 # idle client connections: longer than any load balancer's in front
log_level = "info"
log_json = true

# An API key created at start-up if it does not exist yet (for automation). Prefer
# HOMEPORT_BOOTSTRAP_API_KEY in the environment to writing a key here.
# bootstrap_api_key = "hp-..."

# The model routing table: the model name agents and clients ask for -> provider + upstream.
# provider "openai" is any OpenAI-compatible server (OpenAI, Azure OpenAI, vLLM, Ollama,
# llama.cpp); provider "anthropic" is the Anthropic Messages API.
[[models]]
name = "gpt-4o-mini"
provider = "openai"
base_url = "http://127.0.0.1:8000/v1"   # e.g. llama.cpp's server
upstream_model = "local"
api_key_env = "LOCAL_MODEL_KEY"

# [[models]]
# name = "claude-sonnet"
# provider = "anthropic"
# upstream_model = "claude-sonnet-4-5"
# api_key_env = "ANTHROPIC_API_KEY"

[engine]
workers = 64            # concurrent runs per process
lease_seconds = 30      # a run whose worker stops heartbeating is taken over after this
heartbeat_seconds = 5
run_expiry_seconds = 600
embedded_worker = true  # 'homeport serve' executes runs itself; 'homeport worker' adds more
"""
