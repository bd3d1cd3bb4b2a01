"""Headless Chromium for the tests of HTML pages and reports: the real browser, offline.

``render(path)`` loads a local file and returns the DOM after rendering and a PNG screenshot.
Without Chromium the test is skipped with the reason, and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Rendered:
    dom: str
    png: bytes


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "Chromium is not installed (Debian package 'chromium'; .ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def render(path: Path, *, width: int = 1200, height: int = 1600) -> Rendered:
    binary = chromium()
    with tempfile.TemporaryDirectory() as profile:
        common = [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]
        dom = subprocess.run(
            [*common, "--dump-dom", path.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        shot = Path(profile) / "shot.png"
        subprocess.run(
            [*common, f"--screenshot={shot}", path.resolve().as_uri()],
            capture_output=True,
            timeout=60,
            check=True,
        )
        return Rendered(dom=dom, png=shot.read_bytes())
