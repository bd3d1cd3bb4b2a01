"""Servers the demo starts as their own processes (``homeport serve``, ``homeport gateway``) and
the configuration files they read. Each is stopped when the demo's ``ExitStack`` closes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from homeport.demo.state import Demo, DemoFailed, Instance
from homeport.sample.generate import MODEL_HELPER, MODEL_ORDERS, MODEL_SUPPORT
from homeport.testing.background import free_port

SAMPLE_MODELS = (MODEL_SUPPORT, MODEL_ORDERS, MODEL_HELPER)
READY_SECONDS = 90.0


def homeport_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from homeport.cli.main import main; main()", *args]


def write_homeport_config(
    demo: Demo, instance: Instance, port: int, upstream_url: str, upstream_model: str
) -> Path:
    """homeport.toml for ``instance``: SQLite in its folder, every model of the sample routed to
    ``upstream_url``."""
    instance.folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f'database_url = "{instance.database_url}"',
        f'data_dir = "{instance.data_dir}"',
        f"port = {port}",
        'log_level = "warning"',
    ]
    for name in SAMPLE_MODELS:
        lines += [
            "",
            "[[models]]",
            f'name = "{name}"',
            'provider = "openai"',
            f'base_url = "{upstream_url}"',
            f'upstream_model = "{upstream_model}"',
            'api_key = "local"',
            f"context_window = {demo.context_window}",
        ]
    path = instance.folder / "homeport.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def _process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_process(
    demo: Demo,
    what: str,
    command: list[str],
    ready_url: str,
    log: Path,
    env: dict[str, str] | None = None,
) -> None:
    """Start ``command`` (stopped with the demo) and wait until ``ready_url`` answers 200."""
    process = demo.stack.enter_context(_process(command, {**os.environ, **(env or {})}, log))
    deadline = time.monotonic() + READY_SECONDS
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise DemoFailed(f"{what} exited with code {process.returncode}: {tail[0]}")
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise DemoFailed(f"{what} was not ready after {READY_SECONDS:.0f}s (log: {log})")
        time.sleep(0.1)


def serve_instance(demo: Demo, instance: Instance, upstream_url: str, upstream_model: str) -> None:
    """``homeport serve`` for ``instance``, its keys from the environment."""
    port = free_port()
    config = write_homeport_config(demo, instance, port, upstream_url, upstream_model)
    env = {
        "HOMEPORT_BOOTSTRAP_API_KEY": instance.api_key,
        "HOMEPORT_BOOTSTRAP_ADMIN_KEY": instance.admin_key,
    }
    start_process(
        demo,
        f"homeport serve ({instance.name})",
        homeport_command("--config", str(config), "serve"),
        f"http://127.0.0.1:{port}/readyz",
        instance.folder / "serve.log",
        env,
    )
    instance.base_url = f"http://127.0.0.1:{port}/v1"
