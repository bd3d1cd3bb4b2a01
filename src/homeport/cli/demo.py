"""``homeport demo``: the whole migration of a sample managed deployment, on this machine."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from homeport.cli.common import print_json


class DemoModel(StrEnum):
    local = "local"
    scripted = "scripted"


def demo(
    model: Annotated[
        DemoModel,
        typer.Option(
            help="homeport's model. local: SmolLM2 on llama.cpp; scripted: the test double."
        ),
    ] = DemoModel.local,
    threads: Annotated[int, typer.Option(min=1, help="Threads in the sample deployment.")] = 120,
    keep: Annotated[
        bool, typer.Option(help="Keep the demo's folder (stores, logs, reports).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Sample deployment -> bundle -> audit -> import -> serve -> gateway, shadow, compare, rollout.

    SQLite, local embeddings, a local model: no API keys, no network. Everything is stopped after.
    """
    from homeport.demo import run_demo

    console = Console(stderr=True) if as_json else Console()
    summary = run_demo(model=model.value, threads=threads, console=console, keep=keep)
    if as_json:
        print_json(summary)
