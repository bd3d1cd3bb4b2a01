"""``homeport db``: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from homeport.cli.common import print_json, settings

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "heads",
) -> None:
    """Migrate the database to the latest schema (or REVISION)."""
    from homeport.store.db import Database
    from homeport.store.migrate import current_revisions, upgrade

    db = Database(settings().database_url)
    try:
        upgrade(db.engine, revision)
        typer.echo(f"database at {', '.join(sorted(current_revisions(db.engine)))}")
    finally:
        db.dispose()


@app.command("status")
def status_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the schema revision of the database and of this homeport."""
    from homeport.store.db import Database
    from homeport.store.migrate import current_revisions, head_revisions

    db = Database(settings().database_url)
    try:
        current, heads = sorted(current_revisions(db.engine)), sorted(head_revisions(db.engine))
    finally:
        db.dispose()
    if as_json:
        print_json({"current": current, "heads": heads, "up_to_date": current == heads})
    else:
        typer.echo(f"current: {', '.join(current) or '(empty)'}\nlatest:  {', '.join(heads)}")
