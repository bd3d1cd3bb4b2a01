"""``homeport serve`` as a user starts it: bootstrap key from the environment, JSON logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from homeport.testing.background import free_port

KEY = "hp-serve-test-key"


@pytest.fixture
def served(cli_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        **cli_env,
        "HOMEPORT_BOOTSTRAP_API_KEY": KEY,
        "HOMEPORT_LOG_LEVEL": "debug",
        "HOMEPORT_PORT": str(port),
    }
    command = [sys.executable, "-c", "from homeport.cli.main import main; main()", "serve"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, log
    finally:
        process.terminate()
        process.wait(30)


def test_serve_answers_with_bootstrap_key(served: tuple[str, Path]) -> None:
    url, _ = served
    with openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0) as client:
        assert client.beta.assistants.list().data == []


def test_log_lines_are_json_with_request_ids(served: tuple[str, Path]) -> None:
    url, log = served
    request_id = httpx.get(url + "/healthz").headers["x-request-id"]
    httpx.get(url + "/nothing")
    lines: list[dict[str, object]] = []
    for _ in range(100):  # the access log line is written just after the response
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        if any(entry.get("request_id") == request_id for entry in lines):
            break
        time.sleep(0.05)
    access = [entry for entry in lines if entry.get("request_id") == request_id]
    assert access, lines
    assert access[0]["logger"] == "homeport.access"
    assert "/healthz 200" in str(access[0]["msg"])
    assert {"ts", "level", "logger", "msg"} <= set(access[0])
