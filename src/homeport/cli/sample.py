"""``homeport sample``: write the sample managed deployment (a dump of OpenAI API objects)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.cli.common import print_json

app = typer.Typer(
    help="The sample managed deployment used by the demo and tests.", no_args_is_help=True
)


@app.command("create")
def create(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the dump into.")],
    threads: Annotated[int, typer.Option(min=1, help="How many regular threads.")] = 300,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 7,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Write the sample deployment: 3 assistants, files, a vector store, threads, runs, steps."""
    from homeport.sample import generate

    summary = generate(out_dir, threads=threads, seed=seed)
    if as_json:
        print_json(summary.as_dict())
        return
    counts = ", ".join(f"{n} {k}" for k, n in summary.counts.items())
    typer.echo(f"wrote {out_dir}: {counts}")
