"""Where a bundle's files live: a folder, or one tar archive (optionally gzipped) of that folder.

Readers ask for files by their name inside the bundle; both layouts stream, neither loads a
whole file into memory.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from homeport.bundle.errors import BundleError
from homeport.bundle.manifest import MANIFEST

BLOBS = "blobs"


def blob_name(sha256: str) -> str:
    return f"{BLOBS}/{sha256[:2]}/{sha256}"


class Storage(Protocol):
    def open(self, name: str) -> BinaryIO: ...
    def exists(self, name: str) -> bool: ...
    def size(self, name: str) -> int: ...
    def blob_hashes(self) -> Iterator[str]: ...
    def close(self) -> None: ...


class FolderStorage:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def open(self, name: str) -> BinaryIO:
        try:
            return (self.folder / name).open("rb")
        except FileNotFoundError as exc:
            raise BundleError(f"the bundle has no {name}") from exc

    def exists(self, name: str) -> bool:
        return (self.folder / name).is_file()

    def size(self, name: str) -> int:
        return (self.folder / name).stat().st_size

    def blob_hashes(self) -> Iterator[str]:
        for path in sorted((self.folder / BLOBS).glob("*/*")):
            yield path.name

    def close(self) -> None:
        return None


class TarStorage:
    def __init__(self, archive: Path) -> None:
        try:
            self.tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by close()
        except (tarfile.TarError, OSError) as exc:
            raise BundleError(f"{archive} is not a readable bundle archive: {exc}") from exc
        self.members = {m.name.removeprefix("./"): m for m in self.tar.getmembers() if m.isfile()}

    def open(self, name: str) -> BinaryIO:
        member = self.members.get(name)
        handle = self.tar.extractfile(member) if member else None
        if handle is None:
            raise BundleError(f"the bundle archive has no {name}")
        return handle  # type: ignore[return-value]

    def exists(self, name: str) -> bool:
        return name in self.members

    def size(self, name: str) -> int:
        return self.members[name].size

    def blob_hashes(self) -> Iterator[str]:
        for name in sorted(self.members):
            if name.startswith(BLOBS + "/") and name.count("/") == 2:
                yield name.rsplit("/", 1)[1]

    def close(self) -> None:
        self.tar.close()


def open_storage(path: Path) -> Storage:
    if path.is_dir():
        return FolderStorage(path)
    if path.is_file():
        return TarStorage(path)
    raise BundleError(f"no bundle at {path}")


def pack(folder: Path, archive: Path) -> None:
    """Write the bundle folder as one archive (``.tar``, or gzipped for ``.tar.gz``/``.tgz``);
    the manifest goes first so readers find it at once."""
    if not (folder / MANIFEST).is_file():
        raise BundleError(f"{folder} is not a bundle: it has no {MANIFEST}")
    tmp = archive.with_name(archive.name + ".tmp")
    gzipped = archive.name.endswith((".gz", ".tgz"))
    with tarfile.open(tmp, "w:gz") if gzipped else tarfile.open(tmp, "w") as tar:
        tar.add(folder / MANIFEST, arcname=MANIFEST)
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != MANIFEST and not _scratch(path):
                tar.add(path, arcname=path.relative_to(folder).as_posix())
    tmp.replace(archive)


def _scratch(path: Path) -> bool:
    return path.name.startswith("tmp-") or path.name.endswith(".tmp")
