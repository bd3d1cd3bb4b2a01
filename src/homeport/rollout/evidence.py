"""What a gate check looks at: each side's traffic in the step, and the answer pairs.

Latencies arrive as histograms (the gateway's ``SideStats`` buckets over ``LATENCY_BOUNDS``, plus
an open last bucket). Quantiles are read Prometheus-style, interpolating linearly inside a bucket;
a quantile that lands in the open bucket is infinite, so a candidate slower than the last bound
can never pass for fast.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from homeport.compare.stats import quantile_ranks
from homeport.gateway.seams import LATENCY_BOUNDS, SideStats


@dataclass(frozen=True)
class Histogram:
    counts: tuple[int, ...] = ()
    bounds: tuple[float, ...] = LATENCY_BOUNDS

    @property
    def total(self) -> int:
        return sum(self.counts)

    def __add__(self, other: Histogram) -> Histogram:
        if not self.counts:
            return other
        if not other.counts:
            return self
        return Histogram(
            tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)), self.bounds
        )

    def at_rank(self, rank: int) -> float:
        """The value of the ``rank``-th smallest observation (1-based), interpolated."""
        seen = 0
        for index, count in enumerate(self.counts):
            if count and seen + count >= rank:
                if index >= len(self.bounds):
                    return math.inf
                low = self.bounds[index - 1] if index else 0.0
                return low + (self.bounds[index] - low) * (rank - seen) / count
            seen += count
        raise ValueError(f"rank {rank} beyond {self.total} observations")

    def quantile(self, q: float) -> float:
        return self.at_rank(max(1, math.ceil(q * self.total)))

    def quantile_interval(self, q: float, z: float) -> tuple[float, float]:
        low, high = quantile_ranks(self.total, q, z)
        return self.at_rank(low), self.at_rank(high)


@dataclass(frozen=True)
class SideEvidence:
    """One side's traffic over the window (served and shadow alike)."""

    requests: int = 0
    errors: int = 0
    latency: Histogram = field(default_factory=Histogram)
    ttft: Histogram = field(default_factory=Histogram)
    input_tokens: int = 0
    output_tokens: int = 0

    @classmethod
    def from_stats(cls, rows: Iterable[SideStats]) -> SideEvidence:
        total = cls()
        for row in rows:
            total = SideEvidence(
                requests=total.requests + row.requests,
                errors=total.errors + row.errors,
                latency=total.latency + Histogram(row.latency_buckets),
                ttft=total.ttft + Histogram(row.ttft_buckets),
                input_tokens=total.input_tokens + row.input_tokens,
                output_tokens=total.output_tokens + row.output_tokens,
            )
        return total

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.requests,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }
        for name, histogram in (("latency", self.latency), ("ttft", self.ttft)):
            p95 = histogram.quantile(0.95) if histogram.total else None
            out[f"{name}_p95_seconds"] = json_number(p95)
            out[f"{name}_samples"] = histogram.total
        return out


@dataclass(frozen=True)
class Evidence:
    """Everything one check sees. ``conversations``: distinct conversations homeport answered in
    the step; pairs and noise pairs count scored comparisons and how many disagreed."""

    managed: SideEvidence
    candidate: SideEvidence
    conversations: int = 0
    pairs: int = 0
    disagreements: int = 0
    noise_pairs: int = 0
    noise_disagreements: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "managed": self.managed.summary(),
            "candidate": self.candidate.summary(),
            "conversations": self.conversations,
            "pairs": self.pairs,
            "disagreements": self.disagreements,
            "noise_pairs": self.noise_pairs,
            "noise_disagreements": self.noise_disagreements,
        }


def json_number(value: float | None) -> float | str | None:
    """JSON has no infinity: the audit log says "inf" instead."""
    if value is not None and math.isinf(value):
        return "inf"
    return value


def side_evidence(rows: Sequence[SideStats], side: str) -> SideEvidence:
    return SideEvidence.from_stats(row for row in rows if row.side.value == side)
