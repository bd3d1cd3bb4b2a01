"""The Python heap of a long-running homeport process (``serve`` and each of its ``--workers``,
``homeport worker``, the gateway and its shadow worker): start-up's objects frozen before
serving, and the collector's figures for /metrics."""

from __future__ import annotations

import gc
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


def freeze_startup_objects() -> None:
    """Take what start-up made (modules, classes, config, pools) out of the collector's walks.

    A full collection walks every tracked object, and a homeport process's heap after start-up
    is mostly its imports. Under load a full collection comes every few seconds (``serve``) or
    half-minute (the gateway), and walking that heap took 80-115 ms of the event loop each time,
    with every request in flight waiting. Frozen objects are never collected (start-up's garbage
    is collected first), and a full collection walks only what serving made: 3-6 ms.
    """
    gc.collect()
    gc.freeze()


class HeapCollector(Collector):
    """This process's collector at scrape time: objects frozen, collections by generation
    (generation 2 is a full one)."""

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "homeport_gc_frozen_objects",
            "Objects frozen at start-up, left out of garbage collections",
            value=gc.get_freeze_count(),
        )
        collections = CounterMetricFamily(
            "homeport_gc_collections",
            "Garbage collections by generation (2 is a full collection)",
            labels=["generation"],
        )
        for generation, stats in enumerate(gc.get_stats()):
            collections.add_metric([str(generation)], stats["collections"])
        yield collections
