"""``homeport bundle``: verify, inspect, pack, and make encryption keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.cli.common import console, fail, print_json

app = typer.Typer(help="Bundles: the format exports are written in.", no_args_is_help=True)

BundleArg = Annotated[Path, typer.Argument(help="A bundle folder or archive.")]
KeyOption = Annotated[
    Path | None, typer.Option(help="Key of an encrypted bundle (else $HOMEPORT_BUNDLE_KEY).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@app.command("verify")
def verify_cmd(bundle: BundleArg, key_file: KeyOption = None, as_json: JsonOption = False) -> None:
    """Check every checksum, count and blob of a bundle; exit 1 if anything is wrong."""
    from homeport.bundle import load_key, open_bundle, verify_bundle

    with open_bundle(bundle, key=load_key(key_file)) as reader:
        report = verify_bundle(reader)
    if as_json:
        print_json(report.as_dict())
    else:
        for problem in report.problems:
            console.print(f"[red]✗[/red] {problem}", highlight=False)
        counts = ", ".join(f"{n} {part}" for part, n in report.counts.items())
        state = "[green]ok[/green]" if report.ok else "[red]FAILED[/red]"
        console.print(f"{state}: {counts}, {report.blobs} blobs", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command("info")
def info_cmd(bundle: BundleArg, as_json: JsonOption = False) -> None:
    """Show a bundle's manifest: source, times, counts (no key needed)."""
    from homeport.bundle import open_bundle

    with open_bundle(bundle) as reader:
        manifest = reader.manifest
    if as_json:
        print_json(manifest.as_dict())
        return
    console.print(f"source: {manifest.source.get('kind')}  complete: {manifest.complete}")
    for part, count in manifest.counts().items():
        if count:
            console.print(f"  {part:<20} {count}")


@app.command("pack")
def pack_cmd(
    bundle: Annotated[Path, typer.Argument(help="A bundle folder.")],
    archive: Annotated[Path, typer.Argument(help="The archive to write (.tar or .tar.gz).")],
) -> None:
    """Write a bundle folder as one archive."""
    from homeport.bundle import pack

    pack(bundle, archive)
    console.print(f"wrote {archive}")


@app.command("keygen")
def keygen_cmd(
    key_file: Annotated[Path, typer.Argument(help="Where to write the new key.")],
    force: Annotated[bool, typer.Option(help="Overwrite an existing key file.")] = False,
) -> None:
    """Write a random 256-bit bundle key (hex), readable by its owner only."""
    from homeport.bundle import new_key

    if key_file.exists() and not force:
        raise fail(f"{key_file} exists: pass --force to overwrite it (the old key is lost)")
    key_file.touch(mode=0o600, exist_ok=True)
    key_file.chmod(0o600)
    key_file.write_text(new_key().hex() + "\n")
    console.print(f"wrote {key_file}")
