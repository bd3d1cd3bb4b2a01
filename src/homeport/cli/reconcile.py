"""``homeport reconcile BUNDLE``: does the store hold exactly what the bundle holds?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.cli.common import console, print_json, settings


def reconcile(
    bundle: Annotated[Path, typer.Argument(help="A bundle folder or archive.")],
    project: Annotated[str | None, typer.Option(help="The project it was imported into.")] = None,
    key_file: Annotated[
        Path | None, typer.Option(help="Key of an encrypted bundle (else $HOMEPORT_BUNDLE_KEY).")
    ] = None,
    queries: Annotated[int, typer.Option(help="Test queries per vector store.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compare counts, content checksums, message order and search; exit 1 on any difference."""
    from homeport.bundle import load_key, open_bundle
    from homeport.reconcile import reconcile as run_reconcile
    from homeport.store.db import Database

    config = settings()
    db = Database(config.database_url)
    try:
        with open_bundle(bundle, key=load_key(key_file)) as reader:
            report = run_reconcile(reader, db, config, project=project, queries_per_store=queries)
    finally:
        db.dispose()
    if as_json:
        print_json(report.as_dict())
    else:
        for name, part in report.parts.items():
            mark = "[green]✓[/green]" if part.ok else "[red]✗[/red]"
            line = f"{mark} {name:<20} bundle {part.bundle_count:>8}  store {part.store_count:>8}"
            if part.missing_count:
                line += f"  missing {part.missing_count} (e.g. {', '.join(part.missing[:3])})"
            if part.different_count:
                sample = part.different[0]
                line += (
                    f"  different {part.different_count} "
                    f"(e.g. {sample['id']}: {', '.join(sample['fields'])})"
                )
            console.print(line, highlight=False)
        order = "[green]✓[/green]" if not report.out_of_order_count else "[red]✗[/red]"
        console.print(
            f"{order} message order: {report.conversations_checked} conversations, "
            f"{report.out_of_order_count} out of order",
            highlight=False,
        )
        for store_id, result in report.vector_stores.items():
            mark = "[green]✓[/green]" if result.ok else "[red]✗[/red]"
            console.print(
                f"{mark} {store_id}: {result.answered}/{result.queries} test queries answered",
                highlight=False,
            )
    if not report.ok:
        raise typer.Exit(1)
