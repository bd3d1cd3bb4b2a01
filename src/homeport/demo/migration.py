"""Steps 1-4: the sample managed deployment, exported, audited, imported and reconciled."""

from __future__ import annotations

from rich.table import Table

from homeport.audit import build_report, write_report
from homeport.bundle import open_bundle, verify_bundle
from homeport.demo.state import Demo, DemoFailed, Instance
from homeport.importer import ImportReport, import_bundle
from homeport.reconcile import ReconcileReport, reconcile
from homeport.sample import generate
from homeport.services import Services
from homeport.sources.base import make_source, run_export
from homeport.store.bootstrap import prepare_database


def write_sample(demo: Demo) -> str:
    """The managed deployment to move: a dump of OpenAI Assistants API objects."""
    summary = generate(demo.sample_dir, threads=demo.threads)
    demo.results["sample"] = summary.as_dict()
    counts = summary.counts
    return (
        f"{counts['assistants']} assistants, {counts['threads']} threads, "
        f"{counts['messages']} messages, {counts['files']} files in {demo.sample_dir}"
    )


def export_bundle(demo: Demo) -> str:
    """``homeport export openai-objects``, then ``homeport bundle verify``."""
    source = make_source("openai-objects", {"path": str(demo.sample_dir)})
    manifest = run_export(source, demo.bundle_dir)
    with open_bundle(demo.bundle_dir) as reader:
        report = verify_bundle(reader)
    demo.results["bundle"] = {"path": str(demo.bundle_dir), "verify": report.as_dict()}
    if not report.ok:
        raise DemoFailed(f"bundle verify: {'; '.join(report.problems[:3])}")
    counts = {part: n for part, n in manifest.counts().items() if n}
    return "verified: " + ", ".join(f"{n} {part}" for part, n in counts.items())


def audit_bundle(demo: Demo) -> str:
    """``homeport audit``: inventory, dependency checklist, risks, plan, cost."""
    with open_bundle(demo.bundle_dir) as reader:
        report = build_report(reader)
    paths = write_report(report, demo.workdir / "audit")
    agents = [a["name"] or a["id"] for a in report["agents"]]
    demo.results["audit"] = {
        "agents": agents,
        "conversations": report["volumes"]["conversations"],
        "messages": report["volumes"]["messages"],
        "risks": [r["title"] for r in report["risks"]],
        "reports": [str(p) for p in paths],
    }
    for risk in report["risks"]:
        demo.say(f"  [yellow]{risk['level']} risk[/yellow] {risk['title']}")
    return (
        f"{len(agents)} agents ({', '.join(agents)}), "
        f"{report['volumes']['conversations']} conversations, {len(report['risks'])} risks; "
        f"report in {paths[-1]}"
    )


def import_into(instance: Instance, demo: Demo) -> tuple[ImportReport, ReconcileReport]:
    """Import the bundle into ``instance``'s SQLite store, then reconcile store and bundle."""
    instance.folder.mkdir(parents=True, exist_ok=True)
    settings = instance.settings()
    services = Services.from_settings(settings)
    try:
        prepare_database(services)
        with open_bundle(demo.bundle_dir) as reader:
            imported = import_bundle(reader, services.db, settings)
        with open_bundle(demo.bundle_dir) as reader:
            checked = reconcile(reader, services.db, settings)
    finally:
        services.db.dispose()
    return imported, checked


def import_and_reconcile(demo: Demo) -> str:
    """``homeport import`` (original IDs; files re-embedded locally), ``homeport reconcile``."""
    imported, checked = import_into(demo.homeport, demo)
    table = Table("type", "bundle", "imported", "store", "reconciled", title="import + reconcile")
    for name, part in checked.parts.items():
        table.add_row(
            name,
            str(imported.records.get(name, part.bundle_count)),
            str(imported.inserted.get(name, "")),
            str(part.store_count),
            "[green]equal[/green]" if part.ok else "[red]different[/red]",
        )
    demo.console.print(table)
    demo.results["import"] = {**imported.as_dict(), "reconcile": checked.as_dict()}
    if not checked.ok:
        bad = [name for name, part in checked.parts.items() if not part.ok]
        raise DemoFailed(f"reconcile found differences in {', '.join(bad) or 'search or order'}")
    stores = ", ".join(
        f"{r.answered}/{r.queries} search queries" for r in checked.vector_stores.values()
    )
    return (
        f"{sum(imported.inserted.values())} records imported, every type equal, "
        f"{checked.conversations_checked} conversations in order, {stores}"
    )
