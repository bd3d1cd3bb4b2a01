"""Per-side metrics: Prometheus for scraping, and windowed :class:`SideStats` for the rollout.

Every answer is observed once, with its side (managed | homeport) and role (served | shadow).
The same observation feeds the Prometheus registry and the current stats window; a background
task writes the window to the store every ``stats_seconds`` (see ``sidestats``).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from homeport.gateway.seams import LATENCY_BOUNDS, Role, SideStats, Upstream
from homeport.tls import Reload

_M = TypeVar("_M", bound=MetricWrapperBase)


@dataclass
class _Window:
    requests: int = 0
    errors: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS) + 1))
    ttft: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS) + 1))
    input_tokens: int = 0
    output_tokens: int = 0


class GatewayMetrics:
    def __init__(self, replica: str) -> None:
        self.replica = replica
        self.registry = r = CollectorRegistry()
        sides = ["side", "role"]
        self.requests = Counter(
            "homeport_gateway_requests",
            "Answers by side, role, route and status",
            [*sides, "route", "status"],
            registry=r,
        )
        self.errors = Counter(
            "homeport_gateway_errors", "5xx answers and transport failures", sides, registry=r
        )
        self.latency = Histogram(
            "homeport_gateway_upstream_seconds",
            "Whole answer time",
            sides,
            buckets=LATENCY_BOUNDS,
            registry=r,
        )
        self.ttft = Histogram(
            "homeport_gateway_ttft_seconds",
            "Time to first streamed byte",
            sides,
            buckets=LATENCY_BOUNDS,
            registry=r,
        )
        self.tokens = Counter(
            "homeport_gateway_tokens", "Tokens by side, role and kind", [*sides, "kind"], registry=r
        )
        self.shadow_dropped = Counter(
            "homeport_gateway_shadow_dropped", "Shadow copies not sent", ["reason"], registry=r
        )
        self.pairs_dropped = Counter(
            "homeport_gateway_pairs_dropped",
            "Answer pairs not delivered to the sink",
            ["reason"],
            registry=r,
        )
        self.pairs_written = Counter(
            "homeport_gateway_pairs_written", "Answer pairs delivered", registry=r
        )
        self.shadow_fallback_reads = Counter(
            "homeport_gateway_shadow_fallback_reads",
            "Managed-side reads of a run's calls that no shadow copy had learned",
            registry=r,
        )
        self.shadow_queue = Gauge(
            "homeport_gateway_shadow_queue_depth", "Shadow copies waiting", registry=r
        )
        self.pins_written = Counter(
            "homeport_gateway_pins_written", "New conversation pins", ["side", "kind"], registry=r
        )
        self.mirror_writes = Counter(
            "homeport_gateway_mirror_writes",
            "Shared-object writes copied to the other side",
            ["kind", "status"],
            registry=r,
        )
        self.carriers = Counter(
            "homeport_gateway_carriers",
            "Carriers for branches of evacuated response chains, by outcome",
            ["outcome"],
            registry=r,
        )
        self.tls_reloads = Counter(
            "homeport_gateway_tls_reloads",
            "Renewed TLS files of a side, taken (loaded) or refused and not used (rejected)",
            ["side", "outcome"],
            registry=r,
        )
        self.routing_weight = Gauge(
            "homeport_gateway_routing_weight", "Canary weight in force", registry=r
        )
        self._windows: dict[tuple[Upstream, Role], _Window] = {}
        self._window_start = time.time()
        # Label children, looked up once: ``labels()`` costs more than the observation.
        self._children: dict[tuple[object, ...], Any] = {}

    def child(self, metric: _M, *labels: str) -> _M:
        """``metric.labels(*labels)``, remembered."""
        key = (metric, *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return cast(_M, found)

    def tls_reload(self, side: Upstream) -> Callable[[Reload], None]:
        """Counts a side's renewed TLS files (``homeport.tls.ClientTls``'s ``on_reload``)."""
        return lambda outcome: self.tls_reloads.labels(side.value, outcome).inc()

    def observe(
        self,
        *,
        side: Upstream,
        role: Role,
        route: str,
        status: int | None,
        seconds: float,
        ttft: float | None,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        failed = status is None or status >= 500
        child = self.child
        child(self.requests, side, role, route, str(status or "none")).inc()
        child(self.latency, side, role).observe(seconds)
        if failed:
            child(self.errors, side, role).inc()
        if ttft is not None:
            child(self.ttft, side, role).observe(ttft)
        if input_tokens:
            child(self.tokens, side, role, "input").inc(input_tokens)
        if output_tokens:
            child(self.tokens, side, role, "output").inc(output_tokens)
        window = self._windows.get((side, role))
        if window is None:
            window = self._windows[(side, role)] = _Window()
        window.requests += 1
        window.errors += failed
        window.latency[bisect.bisect_left(LATENCY_BOUNDS, seconds)] += 1
        if ttft is not None:
            window.ttft[bisect.bisect_left(LATENCY_BOUNDS, ttft)] += 1
        window.input_tokens += input_tokens
        window.output_tokens += output_tokens

    def take_window(self, phase: str) -> list[SideStats]:
        """Close the current window and return its stats (one per side and role seen)."""
        now = time.time()
        windows, self._windows = self._windows, {}
        start, self._window_start = self._window_start, now
        return [
            SideStats(
                replica=self.replica,
                side=side,
                role=role,
                phase=phase,
                window_start=start,
                window_seconds=now - start,
                requests=w.requests,
                errors=w.errors,
                latency_buckets=tuple(w.latency),
                ttft_buckets=tuple(w.ttft),
                input_tokens=w.input_tokens,
                output_tokens=w.output_tokens,
            )
            for (side, role), w in windows.items()
        ]
