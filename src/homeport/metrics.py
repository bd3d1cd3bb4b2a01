"""Prometheus metrics. Each Services owns a registry, so several apps can live in one process.

``homeport serve --workers N`` runs N processes on one port, and a scrape reaches one of them.
So that every scrape reports the whole server, the parent points ``PROMETHEUS_MULTIPROC_DIR``
at a fresh directory before it starts them: prometheus_client then keeps each process's values
in files there, and ``exposition`` sums them (a process replaced after a crash keeps its counts;
the queue gauges report the most recent value any process read). The heap's figures
(``homeport.heap``) are one process's, so only a single process reports them.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from homeport.heap import HeapCollector

SHARED_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Read by prometheus_client when it is imported: set it before a serving process starts."""

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        r.register(HeapCollector())
        self.requests = Counter(
            "homeport_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.request_latency = Histogram(
            "homeport_http_request_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.runs = Counter(
            "homeport_runs", "Runs and responses reaching a status", ["kind", "status"], registry=r
        )
        self.queue_depth = Gauge(
            "homeport_run_queue_depth",
            "Runs waiting to be claimed",
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.queue_age = Gauge(
            "homeport_run_queue_oldest_seconds",
            "Age of the oldest queued run",
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.model_latency = Histogram(
            "homeport_model_call_seconds",
            "Model call latency, whole call",
            ["model", "provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_ttft = Histogram(
            "homeport_model_time_to_first_token_seconds",
            "Model time to first token",
            ["model", "provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_errors = Counter(
            "homeport_model_call_errors", "Failed model calls", ["model", "provider"], registry=r
        )
        self.tokens = Counter(
            "homeport_tokens", "Tokens by model and kind", ["model", "kind"], registry=r
        )


def exposition(metrics: Metrics) -> bytes:
    """The text a scrape gets: this process's metrics, or every serving process's, summed."""
    shared = os.environ.get(SHARED_DIR_ENV)
    if not shared:
        return generate_latest(metrics.registry)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
