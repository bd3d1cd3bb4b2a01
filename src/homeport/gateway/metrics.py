"""Per-side metrics: Prometheus for scraping, and windowed :class:`SideStats` for the rollout.

Every answer is observed once, with its side (managed | homeport) and role (served | shadow).
The same observation feeds the running totals that ``/metrics`` renders and the current stats
window; a background task writes the window to the store every ``stats_seconds`` (see
``sidestats``). Answers are counted in plain integers and rendered when scraped (``_Answers``):
a Prometheus client metric takes a lock and checks per update, which at one observation of five
metrics per proxied request was a tenth of the proxy's CPU.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from homeport.gateway.seams import LATENCY_BOUNDS, Role, SideStats, Upstream
from homeport.heap import HeapCollector
from homeport.tls import Reload

_M = TypeVar("_M", bound=MetricWrapperBase)


_BUCKETS = len(LATENCY_BOUNDS) + 1
_LE = [*(floatToGoString(b) for b in LATENCY_BOUNDS), "+Inf"]  # type: ignore[no-untyped-call]


@dataclass
class _Window:
    """One side and role's answers: over a stats window, or since start (``_Answers``)."""

    requests: int = 0
    errors: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * _BUCKETS)
    ttft: list[int] = field(default_factory=lambda: [0] * _BUCKETS)
    input_tokens: int = 0
    output_tokens: int = 0
    latency_sum: float = 0.0
    ttft_sum: float = 0.0

    def add(self, failed: bool, seconds: float, ttft: float | None, given: int, made: int) -> None:
        self.requests += 1
        self.errors += failed
        self.latency[bisect.bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.latency_sum += seconds
        if ttft is not None:
            self.ttft[bisect.bisect_left(LATENCY_BOUNDS, ttft)] += 1
            self.ttft_sum += ttft
        self.input_tokens += given
        self.output_tokens += made


class _Answers(Collector):
    """The answers observed since start, rendered as Prometheus metrics when scraped."""

    def __init__(self) -> None:
        self.by_side: dict[tuple[Upstream, Role], _Window] = {}
        self.by_route: dict[tuple[Upstream, Role, str, str], int] = {}

    def collect(self) -> Iterator[Metric]:
        sides = ["side", "role"]
        requests = CounterMetricFamily(
            "homeport_gateway_requests",
            "Answers by side, role, route and status",
            labels=[*sides, "route", "status"],
        )
        for labels, count in list(self.by_route.items()):  # a scrape from another thread
            requests.add_metric(labels, count)
        errors = CounterMetricFamily(
            "homeport_gateway_errors", "5xx answers and transport failures", labels=sides
        )
        latency = HistogramMetricFamily(
            "homeport_gateway_upstream_seconds", "Whole answer time", labels=sides
        )
        ttft = HistogramMetricFamily(
            "homeport_gateway_ttft_seconds", "Time to first streamed byte", labels=sides
        )
        tokens = CounterMetricFamily(
            "homeport_gateway_tokens", "Tokens by side, role and kind", labels=[*sides, "kind"]
        )
        for (side, role), w in list(self.by_side.items()):
            errors.add_metric([side, role], w.errors)
            latency.add_metric([side, role], _buckets(w.latency), w.latency_sum)
            if any(w.ttft):
                ttft.add_metric([side, role], _buckets(w.ttft), w.ttft_sum)
            if w.input_tokens:
                tokens.add_metric([side, role, "input"], w.input_tokens)
            if w.output_tokens:
                tokens.add_metric([side, role, "output"], w.output_tokens)
        yield from (requests, errors, latency, ttft, tokens)


def _buckets(counts: list[int]) -> list[tuple[str, float]]:
    """Cumulative Prometheus buckets from per-bucket counts."""
    return list(zip(_LE, accumulate(counts), strict=True))


class GatewayMetrics:
    def __init__(self, replica: str) -> None:
        self.replica = replica
        self.registry = r = CollectorRegistry()
        self._answers = _Answers()
        r.register(self._answers)
        r.register(HeapCollector())
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
        self.shadow_handoff = Gauge(
            "homeport_gateway_shadow_handoff_bytes",
            "Copies handed to the shadow worker, not yet read (grows while it gets no CPU)",
            registry=r,
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
        answers = self._answers
        key = (side, role, route, str(status or "none"))
        answers.by_route[key] = answers.by_route.get(key, 0) + 1
        for windows in (answers.by_side, self._windows):
            window = windows.get((side, role))
            if window is None:
                window = windows[(side, role)] = _Window()
            window.add(failed, seconds, ttft, input_tokens, output_tokens)

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
