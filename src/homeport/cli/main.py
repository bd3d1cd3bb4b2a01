"""Entry point: ``homeport [--config FILE] COMMAND``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.cli import bundle as bundle_cli
from homeport.cli import db as db_cli
from homeport.cli import keys as keys_cli
from homeport.cli import knowledge as knowledge_cli
from homeport.cli import rollout as rollout_cli
from homeport.cli import sample as sample_cli
from homeport.cli.audit import audit
from homeport.cli.common import err_console, state
from homeport.cli.compare import compare
from homeport.cli.demo import demo
from homeport.cli.export import export
from homeport.cli.gateway import gateway
from homeport.cli.import_ import import_
from homeport.cli.reconcile import reconcile
from homeport.cli.serve import serve
from homeport.cli.worker import worker
from homeport.errors import HomeportError

app = typer.Typer(
    name="homeport",
    help="Move AI agents off managed platforms and serve the same OpenAI API yourself.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Commands in the order of a migration, grouped in the help by panel.
SETUP, MOVE, SERVE, CUTOVER = "Set up", "Audit and move", "Serve", "Prove and cut over"
app.add_typer(db_cli.app, name="db", rich_help_panel=SETUP)
app.add_typer(keys_cli.app, name="keys", rich_help_panel=SETUP)
app.command(rich_help_panel=MOVE)(export)
app.add_typer(bundle_cli.app, name="bundle", rich_help_panel=MOVE)
app.command(rich_help_panel=MOVE)(audit)
app.command("import", rich_help_panel=MOVE)(import_)
app.command(rich_help_panel=MOVE)(reconcile)
app.add_typer(knowledge_cli.app, name="knowledge", rich_help_panel=MOVE)
app.command(rich_help_panel=SERVE)(serve)
app.command(rich_help_panel=SERVE)(worker)
app.command(rich_help_panel=CUTOVER)(compare)
app.command(rich_help_panel=CUTOVER)(gateway)
app.add_typer(rollout_cli.app, name="rollout", rich_help_panel=CUTOVER)
app.add_typer(sample_cli.app, name="sample", rich_help_panel="Try it")
app.command(rich_help_panel="Try it")(demo)


@app.callback()
def _root(
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="Path to homeport.toml.")
    ] = None,
) -> None:
    state.config_path = config


@app.command(rich_help_panel=SETUP)
def init(
    path: Annotated[
        Path | None,
        typer.Argument(help="Where to write the starter config [default: homeport.toml]."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter homeport.toml."""
    from homeport.config import DEFAULT_CONFIG_FILE, STARTER_CONFIG

    path = path or Path(DEFAULT_CONFIG_FILE)
    if path.exists() and not force:
        err_console.print(f"[red]error:[/red] {path} exists: pass --force to overwrite it")
        raise typer.Exit(1)
    path.write_text(STARTER_CONFIG)
    typer.echo(f"wrote {path}")


def main() -> None:
    try:
        app()
    except Exception as exc:
        from homeport.config import ConfigError  # here: ``--help`` never loads the settings

        if not isinstance(exc, HomeportError | ConfigError):
            raise
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
