"""What every command shares: settings from --config, one-line errors, JSON output."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console

if TYPE_CHECKING:
    from homeport.config import Settings

console = Console()
err_console = Console(stderr=True)


class CliState:
    config_path: str | None = None


state = CliState()


def settings(**overrides: Any) -> Settings:
    from homeport.config import load_settings

    return load_settings(state.config_path, **overrides)


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)
