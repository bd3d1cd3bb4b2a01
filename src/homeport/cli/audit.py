"""``homeport audit BUNDLE``: inventory, dependency checklist, risks, plan and cost."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.cli.common import console, print_json, settings


def audit(
    bundle_path: Annotated[Path, typer.Argument(help="A bundle folder or archive.")],
    out: Annotated[Path, typer.Option(help="Folder for audit.html, audit.md, audit.json.")] = Path(
        "audit"
    ),
    key_file: Annotated[
        Path | None, typer.Option(help="Key of an encrypted bundle (else $HOMEPORT_BUNDLE_KEY).")
    ] = None,
    chunks_per_second: Annotated[
        float, typer.Option(help="Local embedding throughput assumed for re-embedding time.")
    ] = 350.0,
    monthly_cost: Annotated[
        float, typer.Option(help="What your self-hosted servers cost per month (USD).")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Audit an exported managed deployment and write the report (HTML, Markdown, JSON)."""
    from homeport.audit import CostAssumptions, build_report, write_report
    from homeport.bundle import load_key, open_bundle
    from homeport.config import ConfigError

    try:
        config = settings()
    except ConfigError:
        config = None  # the audit works without a homeport.toml; model routes are then unchecked
    assumptions = CostAssumptions(
        local_chunks_per_second=chunks_per_second, self_hosted_monthly_usd=monthly_cost
    )
    with open_bundle(bundle_path, key=load_key(key_file)) as bundle:
        report = build_report(bundle, settings=config, assumptions=assumptions)
    paths = write_report(report, out)
    if as_json:
        print_json(report)
        return
    agents = ", ".join(a["name"] or a["id"] for a in report["agents"])
    console.print(f"[bold]{len(report['agents'])} agents[/bold]: {agents}")
    console.print(
        f"{report['volumes']['conversations']} conversations, "
        f"{report['volumes']['messages']} messages, {len(report['risks'])} risks"
    )
    for path in paths:
        console.print(f"wrote {path}")
