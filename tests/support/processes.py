"""homeport's commands started as a user starts them, in a subprocess."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, tries: int = 600) -> None:
    """Until ``url`` answers 200; the process's log is the failure if it exits first."""
    for _ in range(tries):
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer: {log.read_text()}")
