"""The engine across processes: kill -9 mid-run, a separate ``homeport worker``, cross-process
cancel and streaming, and expiry. Real ``homeport`` processes, the official SDK as the client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select, update

from homeport.store.models import Run
from homeport.testing.background import free_port
from homeport.testing.scripted_model import ScriptedModelServer
from tests.support.heap import frozen_objects
from tests.support.servers import ADMIN_KEY, API_KEY, HomeportServer, scripted_routes

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning"),
    pytest.mark.slow,
]

HOMEPORT = str(Path(sys.executable).parent / "homeport")
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


class Process:
    """A ``homeport`` command in its own process, with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(
            [HOMEPORT, *args], env=env, stdout=self._out, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        self.popen.kill()
        self.popen.wait()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._out.close()


Launch = Callable[..., Process]


@pytest.fixture
def launch(
    database_url: str, tmp_path: Path, scripted_model: ScriptedModelServer
) -> Iterator[Launch]:
    """Start ``homeport serve`` or ``homeport worker`` against the test database."""
    config = tmp_path / "homeport.toml"
    lines = []
    for route in scripted_routes(scripted_model):
        lines += [
            "[[models]]",
            f'name = "{route.name}"',
            f'provider = "{route.provider}"',
            f'base_url = "{route.base_url}"',
            'api_key = "scripted"',
            "max_retries = 0",
        ]
    config.write_text("\n".join(lines) + "\n")
    started: list[Process] = []

    def start(command: str, port: int = 0, *args: str, **engine: Any) -> Process:
        env = {
            **os.environ,
            "HOMEPORT_CONFIG": str(config),
            "HOMEPORT_DATABASE_URL": database_url,
            "HOMEPORT_DATA_DIR": str(tmp_path / "data"),
            "HOMEPORT_BOOTSTRAP_API_KEY": API_KEY,
            "HOMEPORT_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
            "HOMEPORT_PORT": str(port),
            "HOMEPORT_ENGINE__HEARTBEAT_SECONDS": "0.5",
            "HOMEPORT_ENGINE__POLL_SECONDS": "0.1",
        }
        for key, value in engine.items():
            env[f"HOMEPORT_ENGINE__{key.upper()}"] = str(value).lower()
        log = tmp_path / f"{command}-{len(started)}.log"
        process = Process([command, *args], env, log)
        started.append(process)
        if command == "serve":
            _wait_ready(port, process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


def _wait_ready(port: int, process: Process) -> None:
    while True:
        if process.popen.poll() is not None:
            raise AssertionError(f"homeport exited: {process.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)


def _client(port: int) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=API_KEY, max_retries=0)


def _until(check: Callable[[], bool]) -> None:
    """Wait for ``check`` (the test's timeout bounds it; no timed assertion)."""
    while not check():
        time.sleep(0.05)


def _start_runs(client: openai.OpenAI, texts: list[str], **kwargs: Any) -> list[tuple[str, str]]:
    assistant = client.beta.assistants.create(model="scripted", **kwargs).id
    runs = []
    for text in texts:
        thread = client.beta.threads.create(messages=[{"role": "user", "content": text}]).id
        run = client.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
        runs.append((thread, run.id))
    return runs


def test_kill_9_mid_run_then_restart_settles_every_run(launch: Launch) -> None:
    port = free_port()
    server = launch("serve", port, workers=2, lease_seconds=2)
    client = _client(port)
    runs = _start_runs(client, ["[[slow 2000]] one"] * 6)
    statuses = lambda: [client.beta.threads.runs.retrieve(r, thread_id=t).status for t, r in runs]  # noqa: E731
    _until(lambda: statuses().count("in_progress") == 2)
    before = statuses()
    server.kill()
    launch("serve", port, workers=2, lease_seconds=2)
    _until(lambda: all(s in TERMINAL for s in statuses()))
    after = [client.beta.threads.runs.retrieve(r, thread_id=t) for t, r in runs]
    for was, run in zip(before, after, strict=True):
        if was == "in_progress":
            assert run.status == "failed"
            assert run.last_error is not None and run.last_error.code == "server_error"
            assert "lease expired" in run.last_error.message
        else:
            assert run.status == "completed", run.last_error


# Scale-out workers need PostgreSQL: these tests run on it alone.
ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@ON_POSTGRES
def test_worker_process_executes_streams_and_cancels(launch: Launch) -> None:
    port = free_port()
    launch("serve", port, embedded_worker=False)
    launch("worker")
    client = _client(port)
    assistant = client.beta.assistants.create(model="scripted").id
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "remote"}]).id
    run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
    assert run.status == "completed"
    # streaming in the API process follows events the worker process writes
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "[[drip 5]] hi you"}]
    ).id
    names: list[str] = []
    with client.beta.threads.runs.stream(thread_id=thread, assistant_id=assistant) as stream:
        for event in stream:
            names.append(event.event)
    assert names[0] == "thread.run.created" and names[-1] == "thread.run.completed"
    assert "thread.message.completed" in names
    # cancel through the API process reaches the worker process
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "[[tokens 300]] [[drip 30]]"}]
    ).id
    run = client.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
    _until(lambda: client.beta.threads.runs.retrieve(run.id, thread_id=thread).status != "queued")
    client.beta.threads.runs.cancel(run.id, thread_id=thread)
    final = client.beta.threads.runs.poll(run.id, thread_id=thread)
    assert final.status == "cancelled"


def _series(text: str, name: str) -> float:
    """The sum of a metric's samples whose line starts with ``name`` (labels included)."""
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


@ON_POSTGRES
def test_worker_serves_probes_and_the_metrics_of_the_runs_it_executes(launch: Launch) -> None:
    port, probes = free_port(), free_port()
    launch("serve", port, embedded_worker=False)
    worker = launch("worker", 0, "--metrics-port", str(probes))
    probe = f"http://127.0.0.1:{probes}"
    _until(lambda: _answers(probe + "/healthz"))
    ready = httpx.get(probe + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "schema": "ok", "engine": "ok"}
    client = _client(port)
    assistant = client.beta.assistants.create(model="scripted").id
    for text in ("one", "two"):
        thread = client.beta.threads.create(messages=[{"role": "user", "content": text}]).id
        run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
        assert run.status == "completed"
    executed = httpx.get(probe + "/metrics").text
    assert _series(executed, 'homeport_runs_total{kind="run",status="completed"}') == 2
    assert _series(executed, 'homeport_model_call_seconds_count{model="scripted"') == 2
    assert _series(executed, 'homeport_tokens_total{kind="completion",model="scripted"}') > 0
    assert (frozen_objects(executed) or 0) > 10_000  # start-up's objects, out of collections
    served = httpx.get(f"http://127.0.0.1:{port}/metrics").text  # the API executed none
    assert _series(served, "homeport_model_call_seconds_count") == 0
    assert httpx.get(probe + "/nothing").status_code == 404
    worker.stop()
    assert worker.popen.returncode == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(probe + "/healthz")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.ConnectError:
        return False


def test_runs_waiting_for_tool_outputs_expire(
    homeport_server: Callable[..., HomeportServer],
) -> None:
    server = homeport_server(engine={"run_expiry_seconds": 3, "poll_seconds": 0.1})
    with server.client() as client:
        weather = {"type": "function", "function": {"name": "weather", "parameters": {}}}
        assistant = client.beta.assistants.create(model="scripted", tools=[weather]).id
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": "[[call weather]]"}]
        ).id
        run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
        assert run.status == "requires_action" and run.expires_at is not None
        _until(
            lambda: client.beta.threads.runs.retrieve(run.id, thread_id=thread).status == "expired"
        )
        steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread).data
        assert [s.status for s in steps] == ["expired"]
        with pytest.raises(openai.BadRequestError, match="do not accept tool outputs"):
            client.beta.threads.runs.submit_tool_outputs(
                run.id, thread_id=thread, tool_outputs=[{"tool_call_id": "x", "output": "y"}]
            )


def test_a_worker_whose_run_was_taken_over_writes_nothing(
    homeport_server: Callable[..., HomeportServer],
) -> None:
    """Another worker took the run over (the lease lapsed: a stalled process) while the model
    was answering: the first worker's outcome is dropped whole. No heartbeat comes in between,
    so only the final update's lease check can notice (on PostgreSQL it fails inside the
    commit, with no round trip of its own)."""
    server = homeport_server(engine={"heartbeat_seconds": 3600})
    engine = server.services.engine
    assert engine is not None
    with server.client() as client:
        assistant = client.beta.assistants.create(model="scripted").id
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": "[[slow 1500]] taken over"}]
        ).id
        run = client.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
        _until(lambda: run.id in engine.executors)
        with server.services.db.engine.begin() as conn:
            conn.execute(update(Run).where(Run.id == run.id).values(lease_owner="another-worker"))
        _until(lambda: run.id not in engine.executors)
        after = client.beta.threads.runs.retrieve(run.id, thread_id=thread)
        assert after.status == "in_progress" and after.completed_at is None
        messages = client.beta.threads.messages.list(thread_id=thread).data
        assert [m.role for m in messages] == ["user"]
        assert client.beta.threads.runs.steps.list(run.id, thread_id=thread).data == []
    with server.services.db.engine.connect() as conn:
        owner = conn.scalar(select(Run.lease_owner).where(Run.id == run.id))
    assert owner == "another-worker"


def test_kill_9_mid_background_response_then_restart_settles_it(launch: Launch) -> None:
    port = free_port()
    server = launch("serve", port, workers=2, lease_seconds=2)
    client = _client(port)
    slow = client.responses.create(model="scripted", input="[[slow 3000]] one", background=True)
    quick_ids = [
        client.responses.create(model="scripted", input="two", background=True).id for _ in range(2)
    ]
    _until(lambda: client.responses.retrieve(slow.id).status == "in_progress")
    _until(lambda: all(client.responses.retrieve(i).status == "completed" for i in quick_ids))
    server.kill()
    launch("serve", port, workers=2, lease_seconds=2)
    _until(lambda: client.responses.retrieve(slow.id).status not in ("queued", "in_progress"))
    settled = client.responses.retrieve(slow.id)
    assert settled.status == "failed"
    assert settled.error is not None and "lease expired" in settled.error.message
    assert all(client.responses.retrieve(i).output_text == "Echo: two" for i in quick_ids)


@ON_POSTGRES
def test_worker_process_executes_and_cancels_background_responses(launch: Launch) -> None:
    port = free_port()
    launch("serve", port, embedded_worker=False)
    launch("worker")
    client = _client(port)
    done = client.responses.create(model="scripted", input="remote", background=True)
    _until(lambda: client.responses.retrieve(done.id).status == "completed")
    assert client.responses.retrieve(done.id).output_text == "Echo: remote"
    long = client.responses.create(
        model="scripted", input="[[tokens 300]] [[drip 30]]", background=True
    )
    _until(lambda: client.responses.retrieve(long.id).status == "in_progress")
    cancelled = client.responses.cancel(long.id)
    assert cancelled.status in ("cancelled", "in_progress")
    _until(lambda: client.responses.retrieve(long.id).status == "cancelled")
