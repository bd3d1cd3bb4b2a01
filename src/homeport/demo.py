"""The end-to-end demo: a real local model, ``homeport serve``, and the official OpenAI SDK.

Each step is a function taking the ``Demo`` state, so later steps (migrations, gateways,
comparisons) can be added to ``STEPS`` without touching the others. Everything runs on
127.0.0.1 in a temporary folder and is stopped at the end, also on errors.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
from rich.console import Console

from homeport.errors import HomeportError
from homeport.testing.background import free_port
from homeport.testing.local_model import LocalModel, LocalModelUnavailable
from homeport.testing.scripted_model import ScriptedModelServer

DEMO_MODEL = "gpt-4o-mini"
QUESTIONS = ("What is the capital of France?", "Name one thing to see there.")


class DemoFailed(HomeportError):
    """A demo step failed; the message says which and where its log is shown."""


@dataclass
class Demo:
    """What the steps share. ``transcript`` is what ``--json`` prints."""

    workdir: Path
    console: Console
    stack: ExitStack
    upstream_url: str = ""
    upstream_model: str = ""
    base_url: str = ""
    api_key: str = field(default_factory=lambda: "hp-demo-" + secrets.token_urlsafe(16))
    client: openai.OpenAI | None = None
    assistant_id: str = ""
    transcript: list[dict[str, Any]] = field(default_factory=list)

    def sdk(self) -> openai.OpenAI:
        if self.client is None:
            raise DemoFailed("homeport is not started yet")
        return self.client


Step = Callable[[Demo], None]


def start_local_model(demo: Demo) -> None:
    """SmolLM2-135M on llama.cpp's OpenAI-compatible server."""
    with demo.console.status("starting the local model (SmolLM2-135M on llama.cpp)"):
        try:
            model = demo.stack.enter_context(LocalModel())
        except LocalModelUnavailable as exc:
            raise DemoFailed(f"{exc} (or run 'homeport demo --model scripted')") from exc
    demo.upstream_url, demo.upstream_model = model.base_url, model.model_id
    demo.console.print(f"[green]local model[/green] {model.model_id} at {model.base_url}")


def start_scripted_model(demo: Demo) -> None:
    """The scripted model: instant and deterministic, for machines without the local model."""
    model = demo.stack.enter_context(ScriptedModelServer())
    demo.upstream_url, demo.upstream_model = model.base_url, "scripted"
    demo.console.print(f"[green]scripted model[/green] at {model.base_url}")


def write_config(demo: Demo, port: int) -> Path:
    path = demo.workdir / "homeport.toml"
    path.write_text(
        f'database_url = "sqlite:///{demo.workdir / "homeport.db"}"\n'
        f'data_dir = "{demo.workdir / "data"}"\n'
        f"port = {port}\n"
        'log_level = "warning"\n\n'
        "[[models]]\n"
        f'name = "{DEMO_MODEL}"\n'
        'provider = "openai"\n'
        f'base_url = "{demo.upstream_url}"\n'
        f'upstream_model = "{demo.upstream_model}"\n'
        'api_key = "local"\n'
    )
    return path


@contextmanager
def _serve(config: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-c", "from homeport.cli.main import main; main()",
               "--config", str(config), "serve"]  # fmt: skip
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


def start_homeport(demo: Demo) -> None:
    """``homeport serve`` on SQLite in the temporary folder, API key from the environment."""
    port = free_port()
    config = write_config(demo, port)
    env = {**os.environ, "HOMEPORT_BOOTSTRAP_API_KEY": demo.api_key}
    log = demo.workdir / "homeport.log"
    process = demo.stack.enter_context(_serve(config, env, log))
    demo.base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            demo.console.print(log.read_text()[-3000:], markup=False, highlight=False)
            raise DemoFailed(f"homeport serve exited with code {process.returncode} (log above)")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise DemoFailed("homeport serve was not ready after 60s")
        time.sleep(0.1)
    demo.client = demo.stack.enter_context(
        openai.OpenAI(base_url=demo.base_url, api_key=demo.api_key)
    )
    demo.console.print(f"[green]homeport[/green] serving at {demo.base_url} (config {config})")


def create_assistant(demo: Demo) -> None:
    assistant = demo.sdk().beta.assistants.create(
        model=DEMO_MODEL,
        name="Travel helper",
        instructions="You answer travel questions in one short sentence.",
    )
    demo.assistant_id = assistant.id
    demo.console.print(f"[green]assistant[/green] {assistant.id} ({assistant.name})")


def converse(demo: Demo) -> None:
    """A thread with a streamed run per question, printed as the tokens arrive."""
    client = demo.sdk()
    thread = client.beta.threads.create()
    for question in QUESTIONS:
        client.beta.threads.messages.create(thread.id, role="user", content=question)
        demo.console.print(f"\n[bold]user:[/bold] {question}")
        demo.console.print("[bold]assistant:[/bold] ", end="")
        answer: list[str] = []
        with client.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id=demo.assistant_id, max_completion_tokens=256
        ) as stream:
            for text in stream.text_deltas:
                answer.append(text)
                demo.console.print(text, end="", highlight=False, markup=False)
            run = stream.get_final_run()
        demo.console.print()
        demo.transcript.append(
            {"thread_id": thread.id, "run_id": run.id, "status": run.status,
             "user": question, "assistant": "".join(answer)}
        )  # fmt: skip


STEPS: list[Step] = [start_homeport, create_assistant, converse]


def run_demo(*, model: str = "local", console: Console | None = None) -> list[dict[str, Any]]:
    """Run every step, then stop everything; returns the transcript."""
    console = console or Console()
    upstream: Step = start_local_model if model == "local" else start_scripted_model
    with tempfile.TemporaryDirectory(prefix="homeport-demo-") as workdir, ExitStack() as stack:
        demo = Demo(workdir=Path(workdir), console=console, stack=stack)
        for step in [upstream, *STEPS]:
            try:
                step(demo)
            except openai.APIError as exc:
                raise DemoFailed(f"step '{step.__name__}' failed: {exc}") from exc
        return demo.transcript
