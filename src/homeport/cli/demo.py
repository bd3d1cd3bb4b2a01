"""``homeport demo``: a local model, homeport and the OpenAI SDK holding a short conversation."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from homeport.cli.common import print_json
from homeport.demo import run_demo


class DemoModel(StrEnum):
    local = "local"
    scripted = "scripted"


def demo(
    model: Annotated[
        DemoModel, typer.Option(help="local: SmolLM2 on llama.cpp; scripted: the test double.")
    ] = DemoModel.local,
    as_json: Annotated[bool, typer.Option("--json", help="Print the transcript as JSON.")] = False,
) -> None:
    """Start a model and homeport, talk to an assistant through the OpenAI SDK, stop it all."""
    console = Console(stderr=True) if as_json else Console()
    transcript = run_demo(model=model.value, console=console)
    if as_json:
        print_json(transcript)
