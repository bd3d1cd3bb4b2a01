"""Bundles into the store: original IDs and timestamps, idempotent, resumable (see ``load``)."""

from homeport.importer.load import ImportReport, import_bundle

__all__ = ["ImportReport", "import_bundle"]
