"""The gateway's own configuration file (``homeport gateway --config gateway.toml``).

```toml
name = "default"                       # the rollout this gateway follows
database_url = "sqlite:///homeport.db"  # pins and stats; PostgreSQL when replicas share it
mode = "shadow"                         # initial routing (static, or until the rollout has one)
routing = "store"                       # "store": follow the rollout state; "static": this file

[managed]
base_url = "https://api.openai.com/v1"  # the client's own key is passed through

[homeport]
base_url = "https://homeport.internal:8443/v1"
api_key_env = "HOMEPORT_GATEWAY_KEY"     # an admin key: mirrored writes keep their IDs
ca_file = "/etc/homeport/private-ca.pem" # trusted besides the system's roots (https only)
client_cert_file = "/etc/homeport/gateway.pem"  # mutual TLS: the gateway's certificate...
client_key_file = "/etc/homeport/gateway.key"   # ...and its unencrypted key (or in the same file)
```
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from homeport.config import KEEP_ALIVE_SECONDS, ConfigError
from homeport.gateway.seams import Mode, RoutingState
from homeport.tls import ClientTls, Reload, client_tls


class SideConfig(BaseModel):
    """One upstream. ``base_url`` ends where the SDK's would (``…/v1``).

    An https side is verified against the system's roots plus ``ca_file`` (PEM), and presents
    ``client_cert_file`` (PEM, its key in ``client_key_file`` or in the same file) when set.
    The files are read at load: one that cannot be used is a config error, not a failed request
    later; renewed files are taken while running (``homeport.tls``).
    """

    model_config = ConfigDict(extra="forbid")

    base_url: str
    api_key: str | None = None
    api_key_env: str | None = None
    connect_timeout_seconds: float = 5.0
    timeout_seconds: float = 600.0
    max_connections: int = Field(512, ge=1)
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, ending in /v1")
        return value

    @model_validator(mode="after")
    def _usable_tls_files(self) -> SideConfig:
        self.tls()
        return self

    def tls(self, on_reload: Callable[[Reload], None] | None = None) -> ClientTls | None:
        """The TLS of an https side (None for http), following its files: raises ValueError
        naming the setting whose file cannot be used."""
        files = (self.ca_file, self.client_cert_file, self.client_key_file)
        return client_tls(self.base_url, *files, on_reload=on_reload)

    def resolved_api_key(self) -> str | None:
        """The key that replaces the client's; None passes the client's own key through."""
        if self.api_key:
            return self.api_key
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise ConfigError(
                    f"setting 'api_key_env': environment variable {self.api_key_env} "
                    "is empty: export it or set 'api_key'"
                )
            return key
        return None


class ShadowConfig(BaseModel):
    """The fire-and-forget copy, in the shadow worker process: bounded queue, bounded
    concurrency, its own timeout."""

    model_config = ConfigDict(extra="forbid")

    queue_size: int = Field(1000, ge=1)
    # Copies in flight must cover the copy rate times homeport's answer time (1,200 copies/s of
    # 50 ms answers need 60; 20/s of 5 s answers, 100), or copies queue and then drop.
    concurrency: int = Field(256, ge=1)
    timeout_seconds: float = Field(120.0, gt=0)
    sink: Literal["store", "jsonl", "none"] = "store"
    jsonl_path: Path | None = None
    pair_queue_size: int = Field(10_000, ge=1)
    batch_size: int = Field(100, ge=1)
    replay_ttl_seconds: float = Field(86_400.0, gt=0)  # replay-map rows kept after a turn
    # The worker's CPU: "idle" (SCHED_IDLE) takes only what the proxy and its neighbours leave;
    # "low" (nice +10) takes a small share even from CPU-bound neighbours (a local model).
    priority: Literal["idle", "low"] = "idle"


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    replica: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    host: str = "127.0.0.1"
    port: int = 8088
    database_url: str = "sqlite:///homeport.db"
    managed: SideConfig
    homeport: SideConfig
    mode: Mode = Mode.PASSTHROUGH
    weight: float = Field(0.0, ge=0.0, le=1.0)
    salt: str = ""
    routing: Literal["static", "store"] = "static"
    refresh_seconds: float = Field(1.0, gt=0)
    keep_alive_seconds: float = Field(KEEP_ALIVE_SECONDS, gt=0)  # idle client connections
    stats_seconds: float = Field(10.0, gt=0)
    pin_cache_size: int = Field(200_000, ge=1)
    map_cache_size: int = Field(10_000, ge=1)  # ID maps of evacuated conversations
    mirror_timeout_seconds: float = Field(30.0, gt=0)
    carrier_timeout_seconds: float = Field(60.0, gt=0)  # a branch of an evacuated chain waits
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)

    def initial_state(self) -> RoutingState:
        return RoutingState(
            mode=self.mode, weight=self.weight, phase=self.mode.value, salt=self.salt
        )


def load_gateway_config(path: str | Path, **overrides: object) -> GatewayConfig:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"gateway config {path} does not exist: see docs/gateway.md for one")
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return GatewayConfig(**{**values, **overrides})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{path}: setting '{key}': {message}") from exc
