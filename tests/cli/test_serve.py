"""``homeport serve`` as a user starts it: bootstrap key from the environment, JSON logs."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest

from homeport.testing.background import free_port
from homeport.testing.scripted_model import ScriptedModelServer
from tests.cli.conftest import RunCommand
from tests.support.heap import frozen_objects
from tests.support.processes import wait_ready

KEY = "hp-serve-test-key"
Served = tuple[str, Path, subprocess.Popen[bytes]]
"""A running ``homeport serve``: its URL, log and process."""


@contextmanager
def _serve(env: dict[str, str], tmp_path: Path, *args: str) -> Iterator[Served]:
    """``homeport serve ARGS`` until the test ends: its URL, log and process."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        **env,
        "HOMEPORT_BOOTSTRAP_API_KEY": KEY,
        "HOMEPORT_LOG_LEVEL": "debug",
        "HOMEPORT_PORT": str(port),
    }
    command = [sys.executable, "-c", "from homeport.cli.main import main; main()", "serve", *args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, url + "/readyz", log)
        yield url, log, process
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
def served(cli_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with _serve(cli_env, tmp_path) as (url, log, _):
        yield url, log


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


def test_start_up_objects_are_frozen_before_it_serves(served: tuple[str, Path]) -> None:
    """Full collections walk only what serving made (homeport.heap)."""
    url, _ = served
    assert (frozen_objects(httpx.get(url + "/metrics").text) or 0) > 10_000


# Several API processes on one port need PostgreSQL.
ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


def _idle_then_reuse(url: str, idle_seconds: float) -> int | None:
    """One request on a keep-alive connection, ``idle_seconds`` of silence, then a second
    request on the same connection: its status, None if the server had closed the connection."""
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() == b'{"status":"ok"}'
        sock = conn.sock
        time.sleep(idle_seconds)
        try:
            conn.request("GET", "/healthz")
            answer = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            return None
        assert conn.sock is sock  # the same connection, not a new one
        return answer.status
    finally:
        conn.close()


def test_idle_connections_outlive_a_load_balancers(served: tuple[str, Path]) -> None:
    """The default keeps an idle connection past the 5 s servers commonly close them at."""
    url, _ = served
    assert _idle_then_reuse(url, 6.0) == 200


def test_idle_connections_close_after_the_configured_seconds(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    with _serve({**cli_env, "HOMEPORT_KEEP_ALIVE_SECONDS": "1"}, tmp_path) as (url, _, _):
        assert _idle_then_reuse(url, 2.5) is None


@ON_SQLITE
def test_several_processes_on_sqlite_are_refused_in_one_line(
    homeport_command: RunCommand,
) -> None:
    result = homeport_command("serve", "--workers", "2")
    assert result.returncode == 1
    assert "needs PostgreSQL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.fixture
def processes(
    cli_env: dict[str, str], tmp_path: Path, scripted_model: ScriptedModelServer
) -> Iterator[Served]:
    """``homeport serve --workers 2`` on a blank PostgreSQL database (the parent migrates it),
    routing model ``scripted`` to the scripted model."""
    (tmp_path / "homeport.toml").write_text(
        f'[[models]]\nname = "scripted"\nbase_url = "{scripted_model.base_url}"\n'
        'api_key = "scripted"\nmax_retries = 0\n'
    )
    with _serve(cli_env, tmp_path, "--workers", "2") as served:
        yield served


def _children(pid: int) -> set[int]:
    """The serving processes uvicorn's supervisor started (not multiprocessing's helpers)."""
    found = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(int(child))
    return found


def _until(check: Callable[[], bool]) -> None:
    """Wait for ``check`` (the test's timeout bounds it; no timed assertion)."""
    while not check():
        time.sleep(0.05)


@ON_POSTGRES
@pytest.mark.slow
def test_runs_complete_across_processes(
    processes: Served,
) -> None:
    url, _, parent = processes
    assert len(_children(parent.pid)) == 2

    def client() -> openai.OpenAI:  # a new connection: any of the processes may answer
        return openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)

    with client() as setup:
        assistant = setup.beta.assistants.create(model="scripted").id

    def poll_runs(worker: int) -> list[str]:
        """create_and_poll, and runs created on one connection polled on another."""
        texts = []
        for index in range(4):
            with client() as creator, client() as poller:
                thread = creator.beta.threads.create(
                    messages=[{"role": "user", "content": f"[[slow 50]] run {worker}.{index}"}]
                ).id
                if index % 2:
                    run = creator.beta.threads.runs.create_and_poll(
                        thread_id=thread, assistant_id=assistant
                    )
                else:
                    run = creator.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
                    run = poller.beta.threads.runs.poll(run.id, thread_id=thread)
                assert run.status == "completed", run.last_error
                message = poller.beta.threads.messages.list(thread_id=thread).data[0]
                block = message.content[0]
                assert block.type == "text"
                texts.append(block.text.value)
        return texts

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(poll_runs, range(4)))
    assert answers == [[f"Echo: run {w}.{i}" for i in range(4)] for w in range(4)]

    def stream_run(index: int) -> list[str]:
        with client() as streamer:
            thread = streamer.beta.threads.create(
                messages=[{"role": "user", "content": f"[[drip 5]] streamed {index}"}]
            ).id
            with streamer.beta.threads.runs.stream(
                thread_id=thread, assistant_id=assistant
            ) as stream:
                return [event.event for event in stream]

    order = [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.message.created",
        "thread.message.completed",
        "thread.run.completed",
    ]
    with ThreadPoolExecutor(4) as pool:
        for names in pool.map(stream_run, range(8)):
            assert [name for name in names if name in order] == order
            assert names[-1] == "thread.run.completed"

    def cancel(index: int) -> str:
        """Cancel through a new connection: it reaches whichever process executes the run."""
        with client() as creator, client() as canceller:
            thread = creator.beta.threads.create(
                messages=[{"role": "user", "content": f"[[tokens 300]] [[drip 30]] {index}"}]
            ).id
            run = creator.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
            retrieve = canceller.beta.threads.runs.retrieve
            _until(lambda: retrieve(run.id, thread_id=thread).status == "in_progress")
            canceller.beta.threads.runs.cancel(run.id, thread_id=thread)
            return canceller.beta.threads.runs.poll(run.id, thread_id=thread).status

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(cancel, range(3))) == ["cancelled"] * 3


def _requests_counted(url: str, route: str) -> float:
    """``homeport_http_requests_total`` of ``GET route`` answered 200, from one scrape on a
    new connection (any of the processes may answer it)."""
    text = httpx.get(url + "/metrics").text
    series = f'homeport_http_requests_total{{method="GET",route="{route}",status="200"}}'
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(series)]
    return sum(values)


@ON_POSTGRES
@pytest.mark.slow
def test_every_scrape_counts_the_requests_of_every_process(processes: Served) -> None:
    url, _, parent = processes
    for _ in range(30):  # each on a new connection: both processes answer some
        listed = httpx.get(url + "/v1/assistants", headers={"authorization": f"Bearer {KEY}"})
        assert listed.status_code == 200
    assert [_requests_counted(url, "/assistants") for _ in range(8)] == [30.0] * 8
    assert frozen_objects(httpx.get(url + "/metrics").text) is None  # one process's figure
    victim = min(_children(parent.pid))  # a replaced process's requests still count
    os.kill(victim, signal.SIGKILL)
    _until(lambda: len(_children(parent.pid) - {victim}) == 2)
    httpx.get(url + "/v1/assistants", headers={"authorization": f"Bearer {KEY}"})
    assert [_requests_counted(url, "/assistants") for _ in range(8)] == [31.0] * 8


@ON_POSTGRES
@pytest.mark.slow
def test_a_dead_process_is_reported_and_replaced_and_sigterm_stops_all(
    processes: Served,
) -> None:
    url, log, parent = processes
    first = _children(parent.pid)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    _until(lambda: f"Child process [{victim}] died" in log.read_text())
    _until(lambda: len(_children(parent.pid) - {victim}) == 2)
    for _ in range(4):  # every process answers (new connections land on either)
        assert httpx.get(url + "/readyz").status_code == 200
    children = _children(parent.pid)
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(60) == 0
    for child in children:
        assert not Path(f"/proc/{child}").exists()
