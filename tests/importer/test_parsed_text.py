"""Files the platform gave only as parsed text: imported and indexed as the text they are, even
where the filename names a binary format."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from homeport.bundle import (
    FLAG_BYTES_UNAVAILABLE,
    FLAG_PARSED_TEXT_ONLY,
    BundleWriter,
    open_bundle,
)
from homeport.config import Settings
from homeport.importer import import_bundle
from homeport.reconcile import reconcile
from homeport.services import Services
from homeport.store.models.knowledge import StoredFile, VectorStoreFile

STORE = "vs_manuals"
TEXTS = {
    "file-pdf": ("thermostat.pdf", "Lumen S2 pairing: hold the dial for five seconds until blue."),
    "file-docx": ("returns.DOCX", "Returns are accepted within thirty days with the receipt."),
    "file-md": ("faq.md", "# FAQ\nThe warranty on the Lumen S2 lasts two years from purchase."),
}


def _bundle(folder: Path) -> None:
    with BundleWriter(folder, source={"kind": "test"}) as writer:
        writer.write("vector_stores", {"id": STORE, "created_at": 1, "name": "manuals"})
        for file_id, (name, text) in TEXTS.items():
            sha, size = writer.put_blob([text.encode()])
            writer.write(
                "files",
                {
                    "id": file_id,
                    "created_at": 1,
                    "filename": name,
                    "bytes": size * 7,
                    "purpose": "assistants",
                    "sha256": None,
                    "text_sha256": sha,
                    "flags": [FLAG_BYTES_UNAVAILABLE, FLAG_PARSED_TEXT_ONLY],
                },
            )
            writer.write(
                "vector_store_files",
                {"id": file_id, "vector_store_id": STORE, "created_at": 1, "status": "completed"},
            )


def test_parsed_text_of_binary_formats_is_indexed_as_text(
    tmp_path: Path, services: Services, settings: Settings
) -> None:
    _bundle(tmp_path / "bundle")
    with open_bundle(tmp_path / "bundle") as reader:
        report = import_bundle(reader, services.db, settings)
        check = reconcile(reader, services.db, settings, queries_per_store=3)
    assert report.ingestion == {"completed": 3}
    assert report.parsed_text_only == list(TEXTS)
    with services.db.session() as session:
        names = dict(session.execute(select(StoredFile.id, StoredFile.filename)).all())
        errors = session.scalars(select(VectorStoreFile.last_error)).all()
    assert names == {
        "file-pdf": "thermostat.pdf.txt",
        "file-docx": "returns.DOCX.txt",
        "file-md": "faq.md",
    }
    assert errors == [None, None, None]
    assert check.ok, check.as_dict()
    assert check.vector_stores[STORE].answered == 3
