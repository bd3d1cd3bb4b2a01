"""Gateway fixtures: two scripted model servers as the two sides, and gateways in front of them.

The managed side answers with the persona ``managed``, the candidate with ``homeport``, so every
answer shows which side produced it. ``start_gateway(**config)`` serves a real gateway (its own
HTTP server, in a thread) over the test database (SQLite and PostgreSQL); ``stop()`` drains its
shadow copies and pairs.
``two_homeports`` serves two homeport servers with separate databases as the two sides (the
"managed" one answers with the ``managed`` persona): a thread exists on one side only.
``wait_for(condition, what)`` polls until a gateway has followed a change in the store.
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
import uvloop

from homeport.gateway.app import Gateway
from homeport.gateway.config import GatewayConfig
from homeport.gateway.seams import ShadowPair
from homeport.gateway.server import build_gateway, run_gateway
from homeport.testing.scripted_model import ScriptedModelOptions, ScriptedModelServer
from tests.support.servers import HomeportServer, server_settings


class GatewayServer:
    """A gateway served (``run_gateway``) in a background thread on a free 127.0.0.1 port."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> GatewayServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        ready = threading.Event()

        async def serve() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            await run_gateway(self.gateway, self._stop, sock=sock, started=ready.set)

        def run() -> None:
            try:
                uvloop.run(serve())
            except BaseException as exc:  # reported by start()
                self._error = exc
            finally:
                sock.close()
                ready.set()

        self._thread = threading.Thread(target=run, name=f"gateway-{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"the gateway did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def client(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.base_url, api_key="sk-client", **kwargs)

    def pairs(self) -> list[ShadowPair]:
        path = self.gateway.config.shadow.jsonl_path
        if path is None or not path.exists():
            return []
        return [ShadowPair.from_dict(orjson.loads(line)) for line in path.read_bytes().splitlines()]


GatewayFactory = Callable[..., GatewayServer]


@pytest.fixture
def managed_model() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(ScriptedModelOptions(persona="managed")) as server:
        yield server


@pytest.fixture
def candidate_options() -> ScriptedModelOptions:
    return ScriptedModelOptions(persona="homeport")


@pytest.fixture
def candidate_model(candidate_options: ScriptedModelOptions) -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(candidate_options) as server:
        yield server


@pytest.fixture
def start_gateway(
    database_url: str,
    tmp_path: Path,
    managed_model: ScriptedModelServer,
    candidate_model: ScriptedModelServer,
) -> Iterator[GatewayFactory]:
    started: list[GatewayServer] = []

    def start(**overrides: Any) -> GatewayServer:
        values: dict[str, Any] = {
            "database_url": database_url,
            "managed": {"base_url": managed_model.base_url},
            "homeport": {"base_url": candidate_model.base_url, "api_key": "hp-gateway"},
            "shadow": {"sink": "jsonl", "jsonl_path": tmp_path / f"pairs-{len(started)}.jsonl"},
            "stats_seconds": 3600,
        }
        shadow = {**values["shadow"], **overrides.pop("shadow", {})}
        values.update(overrides, shadow=shadow)
        server = GatewayServer(build_gateway(GatewayConfig(**values)))
        server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
        server.gateway.db.dispose()


@pytest.fixture
def two_homeports(
    tmp_path: Path, managed_model: ScriptedModelServer, candidate_model: ScriptedModelServer
) -> Iterator[tuple[HomeportServer, HomeportServer]]:
    """(managed, homeport): two homeport servers with separate databases."""
    servers = []
    for name, model in (("managed", managed_model), ("homeport", candidate_model)):
        settings = server_settings(f"sqlite:///{tmp_path / name}.db", tmp_path / name, model)
        servers.append(HomeportServer(settings).start())
    yield servers[0], servers[1]
    for server in servers:
        server.stop()


def shadowing(homeports: tuple[HomeportServer, HomeportServer]) -> dict[str, Any]:
    """Gateway settings: shadow mode, the first server managed, the second the candidate (with
    its admin key, which mirrored writes need)."""
    managed, candidate = homeports
    return {
        "mode": "shadow",
        "managed": {"base_url": managed.base_url, "api_key": managed.api_key},
        "homeport": {"base_url": candidate.base_url, "api_key": candidate.admin_key},
    }


def wait_for(condition: Callable[[], object], what: str) -> None:
    """Poll ``condition`` until it holds (bounded: a gateway that never follows fails)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def binomial_two_sided_p(successes: int, trials: int, p: float) -> float:
    """Exact two-sided binomial test p-value (sum of outcomes no likelier than the observed)."""

    def log_pmf(k: int) -> float:
        return (
            math.lgamma(trials + 1)
            - math.lgamma(k + 1)
            - math.lgamma(trials - k + 1)
            + k * math.log(p)
            + (trials - k) * math.log1p(-p)
        )

    pmf = [math.exp(log_pmf(k)) for k in range(trials + 1)]
    observed = pmf[successes]
    return min(1.0, sum(x for x in pmf if x <= observed * (1 + 1e-9)))
