"""Reading ``homeport.heap``'s figures from a /metrics scrape."""

from __future__ import annotations


def frozen_objects(scrape: str) -> float | None:
    """``homeport_gc_frozen_objects`` in a scrape's text; None when it is absent."""
    for line in scrape.splitlines():
        if line.startswith("homeport_gc_frozen_objects "):
            return float(line.split()[-1])
    return None
