"""The bundle: homeport's interchange format between sources, the audit and the importer.

A folder or one archive of JSON Lines per record type, blobs by sha256 and a manifest with
counts and checksums; written and read as streams, optionally encrypted (AES-256-GCM). The full
specification is docs/bundle.md.

Reading::

    with open_bundle(path, key=load_key(key_file)) as bundle:
        bundle.manifest.source, bundle.counts()
        for agent in bundle.records("agents"): ...
        bundle.read_blob(file_record["sha256"])
"""

from homeport.bundle.crypto import load_key, new_key, parse_key
from homeport.bundle.errors import BundleError
from homeport.bundle.manifest import Manifest, PartInfo
from homeport.bundle.reader import BundleReader, open_bundle
from homeport.bundle.schema import (
    FLAG_AGENT_MISSING,
    FLAG_BYTES_UNAVAILABLE,
    FLAG_PARSED_TEXT_ONLY,
    PARTS,
    SCHEMA_VERSION,
    Record,
)
from homeport.bundle.storage import pack
from homeport.bundle.verify import VerifyReport, verify_bundle
from homeport.bundle.writer import BundleWriter

__all__ = [
    "FLAG_AGENT_MISSING",
    "FLAG_BYTES_UNAVAILABLE",
    "FLAG_PARSED_TEXT_ONLY",
    "PARTS",
    "SCHEMA_VERSION",
    "BundleError",
    "BundleReader",
    "BundleWriter",
    "Manifest",
    "PartInfo",
    "Record",
    "VerifyReport",
    "load_key",
    "new_key",
    "open_bundle",
    "pack",
    "parse_key",
    "verify_bundle",
]
