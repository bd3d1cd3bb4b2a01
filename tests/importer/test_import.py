"""Import: the sample deployment into SQLite and PostgreSQL, idempotent, crash-safe, reconciled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from homeport.bundle import BundleError, BundleWriter, open_bundle
from homeport.config import Settings
from homeport.importer import import_bundle
from homeport.reconcile import reconcile
from homeport.services import Services
from homeport.store.models import Item, Run


def _counts(services: Services) -> dict[str, int]:
    with services.db.session() as session:
        return {
            "items": session.scalar(select(func.count()).select_from(Item)) or 0,
            "runs": session.scalar(select(func.count()).select_from(Run)) or 0,
        }


def test_import_twice_changes_nothing_and_reconciles(
    sample_bundle: Path, services: Services, settings: Settings
) -> None:
    with open_bundle(sample_bundle) as reader:
        first = import_bundle(reader, services.db, settings)
        counts = _counts(services)
        second = import_bundle(reader, services.db, settings)
        report = reconcile(reader, services.db, settings)
    assert first.inserted == first.records
    assert first.ingestion == {"completed": 2}
    assert set(second.inserted.values()) == {0}
    assert _counts(services) == counts
    assert report.ok, report.as_dict()
    assert report.conversations_checked > 60
    assert all(s.answered >= 1 for s in report.vector_stores.values())


def test_reconcile_says_exactly_what_differs(
    sample_bundle: Path, services: Services, settings: Settings
) -> None:
    with open_bundle(sample_bundle) as reader:
        import_bundle(reader, services.db, settings, embed=False)
        items = [r for r in reader.records("items")]
        changed, removed = items[3]["id"], items[10]["id"]
        with services.db.session() as session:
            session.execute(update(Item).where(Item.id == changed).values(metadata_={"x": "y"}))
            session.execute(Item.__table__.delete().where(Item.id == removed))
        report = reconcile(reader, services.db, settings, queries_per_store=0)
    items_result = report.parts["items"]
    assert not report.ok
    assert items_result.missing == [removed]
    assert items_result.different == [{"id": changed, "fields": ["metadata"]}]
    assert items_result.store_count == items_result.bundle_count - 1
    assert report.parts["runs"].ok


@pytest.mark.slow
def test_import_killed_at_random_points_ends_complete(
    sample_bundle: Path, services: Services, settings: Settings, tmp_path: Path
) -> None:
    homeport = str(Path(sys.executable).parent / "homeport")
    env = {
        **os.environ,
        "HOMEPORT_DATABASE_URL": settings.database_url,
        "HOMEPORT_DATA_DIR": str(settings.data_dir),
    }
    env.pop("HOMEPORT_CONFIG", None)
    rng = random.Random(5)
    for _ in range(3):
        process = subprocess.Popen(
            [homeport, "import", str(sample_bundle), "--json"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            process.wait(timeout=rng.uniform(1.0, 3.0))
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    done = subprocess.run(
        [homeport, "import", str(sample_bundle), "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    checked = subprocess.run(
        [homeport, "reconcile", str(sample_bundle), "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_damaged_part_is_named_and_nothing_of_it_is_written(
    tmp_path: Path, services: Services, settings: Settings
) -> None:
    folder = tmp_path / "bundle"
    with BundleWriter(folder, source={"kind": "test"}) as writer:
        writer.write("conversations", {"id": "thread_1", "created_at": 1})
        for n in range(3):
            writer.write("items", {"id": f"msg_{n}", "conversation_id": "thread_1"})
    items = folder / "items.jsonl"
    lines = items.read_bytes().splitlines(keepends=True)
    lines[1] = b"{" + b"x" * (len(lines[1]) - 2) + b"\n"  # same size: only the parse can tell
    items.write_bytes(b"".join(lines))
    with open_bundle(folder) as reader, pytest.raises(BundleError, match=r"items\.jsonl"):
        import_bundle(reader, services.db, settings, embed=False)
    assert _counts(services)["items"] == 0
