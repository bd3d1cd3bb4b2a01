"""``homeport export SOURCE OUT``: everything on a managed platform into a bundle, resumably."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from homeport.cli.common import console, fail, print_json
from homeport.cli.progress import bars
from homeport.sources.registry import available_sources


def _options(values: list[str], options_file: Path | None, rate: float | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if options_file is not None:
        try:
            options.update(tomllib.loads(options_file.read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise fail(f"cannot read {options_file}: {exc}") from exc
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name:
            raise fail(f"--set takes NAME=VALUE, got '{value}'")
        options[name.strip().replace("-", "_")] = setting
    if rate is not None:
        options["rate"] = rate
    return options


def export(
    source: Annotated[
        str, typer.Argument(help=f"The platform: {', '.join(sorted(available_sources()))}.")
    ],
    out: Annotated[Path, typer.Argument(help="The bundle folder to write.")],
    set_: Annotated[
        list[str],
        typer.Option("--set", help="A source option NAME=VALUE (repeat), e.g. base_url=..."),
    ] = [],  # noqa: B006 - Typer reads the default, never mutates it
    options_file: Annotated[
        Path | None, typer.Option(help="Source options as TOML (keys as for --set).")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Requests per second at most.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted export.")] = False,
    key_file: Annotated[
        Path | None,
        typer.Option(help="Encrypt with this key (else $HOMEPORT_BUNDLE_KEY if set)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Export every agent, conversation, file and knowledge base of a platform into a bundle."""
    from homeport.bundle import load_key
    from homeport.sources.base import make_source, run_export

    platform = make_source(source, _options(set_, options_file, rate))
    with bars(enabled=not as_json) as progress:
        manifest = run_export(
            platform, out, key=load_key(key_file), resume=resume, progress=progress.counts
        )
    if as_json:
        print_json(manifest.as_dict())
        return
    counts = ", ".join(f"{n} {part}" for part, n in manifest.counts().items() if n)
    console.print(f"wrote {out}: {counts}, {manifest.blobs['count']} blobs", highlight=False)
