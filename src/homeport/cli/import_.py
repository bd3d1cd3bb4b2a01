"""``homeport import BUNDLE``: a bundle into this homeport, with the platform's IDs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.cli.common import console, print_json, settings
from homeport.cli.progress import bars


def import_(
    bundle: Annotated[Path, typer.Argument(help="A bundle folder or archive.")],
    project: Annotated[
        str | None, typer.Option(help="The project to import into (default: default_project).")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option(help="Key of an encrypted bundle (else $HOMEPORT_BUNDLE_KEY).")
    ] = None,
    embed: Annotated[
        bool, typer.Option(help="Parse and embed vector store files now (else the server will).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Load a bundle into the store; safe to run again, and to rerun after a crash."""
    from homeport.bundle import load_key, open_bundle
    from homeport.importer import import_bundle
    from homeport.services import Services
    from homeport.store.bootstrap import prepare_database

    config = settings()
    services = Services.from_settings(config)
    try:
        prepare_database(services)
        with open_bundle(bundle, key=load_key(key_file)) as reader, bars(not as_json) as progress:
            report = import_bundle(
                reader,
                services.db,
                config,
                project=project,
                embed=embed,
                progress=progress.update,
            )
    finally:
        services.db.dispose()
    if as_json:
        print_json(report.as_dict())
        return
    written = sum(report.inserted.values())
    total = sum(report.records.values())
    console.print(f"imported into '{report.project}': {written} new of {total} records")
    if report.ingestion:
        console.print(f"vector store files: {report.ingestion}")
    if report.parsed_text_only:
        console.print(
            f"{len(report.parsed_text_only)} files imported as the platform's parsed text "
            "(their bytes were not to be had): see parsed_text_only in --json"
        )
