"""``homeport keys``: API keys, stored hashed; the secret is shown once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from homeport.cli.common import console, print_json, settings

if TYPE_CHECKING:
    from homeport.services import Services

app = typer.Typer(help="API keys.", no_args_is_help=True)


def _services() -> Services:
    from homeport.services import Services
    from homeport.store.bootstrap import prepare_database

    services = Services.from_settings(settings())
    prepare_database(services)
    return services


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="A label for the key.")] = "default",
    project: Annotated[str | None, typer.Option(help="Project (created if missing).")] = None,
    admin: Annotated[bool, typer.Option(help="May create objects with original IDs.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create an API key and print its secret (shown only this once)."""
    from homeport.store import keys as key_store

    services = _services()
    project_name = project or services.settings.default_project
    with services.db.session() as session:
        key, secret = key_store.create_key(session, project=project_name, name=name, admin=admin)
        key_id = key.id
    services.db.dispose()
    if as_json:
        print_json({"id": key_id, "project": project_name, "admin": admin, "secret": secret})
    else:
        typer.echo(secret)


@app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List API keys (never their secrets)."""
    from homeport.store import keys as key_store

    services = _services()
    with services.db.session() as session:
        rows = [
            {
                "id": key.id,
                "name": key.name,
                "project": project,
                "redacted": key.redacted,
                "admin": key.admin,
                "created_at": key.created_at,
                "revoked_at": key.revoked_at,
            }
            for key, project in key_store.list_keys(session)
        ]
    services.db.dispose()
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "project", "key", "admin", "revoked")
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["name"]),
            str(row["project"]),
            str(row["redacted"]),
            "yes" if row["admin"] else "",
            "yes" if row["revoked_at"] else "",
        )
    console.print(table)


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_...).")]) -> None:
    """Revoke a key; requests with it fail within seconds."""
    from homeport.store import keys as key_store

    services = _services()
    with services.db.session() as session:
        key_store.revoke(session, key_id)
    services.db.dispose()
    typer.echo(f"revoked {key_id}")
