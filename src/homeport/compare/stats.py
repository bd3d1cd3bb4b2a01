"""Statistics for equivalence: proportions, differences beyond the noise floor, quantiles.

Everything here is pure and exact enough to test against published values:
- ``wilson_interval``: Wilson score interval of a proportion (Wilson 1927);
- ``newcombe_interval``: interval of a difference of two proportions from their Wilson intervals
  (Newcombe 1998, method 10) — how the candidate's disagreement rate is set against the noise floor;
- ``quantile_interval``: distribution-free confidence interval of a quantile from order statistics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist


def z_two_sided(confidence: float) -> float:
    """The normal quantile for a two-sided interval at ``confidence`` (0.95 -> 1.96)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def z_one_sided(confidence: float) -> float:
    """The normal quantile for a one-sided bound at ``confidence`` (0.95 -> 1.645)."""
    return NormalDist().inv_cdf(confidence)


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for ``successes`` out of ``n``; (0, 1) when there is no sample."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    denominator = 1 + z2 / n
    low = 0.0 if successes == 0 else (centre - spread) / denominator
    high = 1.0 if successes == n else (centre + spread) / denominator
    return low, high


@dataclass(frozen=True)
class Difference:
    """``p1 - p2`` with its Newcombe interval."""

    estimate: float
    low: float
    high: float


def newcombe_interval(
    x1: int, n1: int, x2: int, n2: int, z: float = 1.959963984540054
) -> Difference:
    """Interval for ``x1/n1 - x2/n2`` built from both Wilson intervals (Newcombe's method 10)."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both samples need at least one observation")
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p1 - p2
    return Difference(
        estimate=d,
        low=d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        high=d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile by the nearest-rank method (an observed value, never interpolated)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def quantile_ranks(n: int, q: float, z: float = 1.959963984540054) -> tuple[int, int]:
    """1-based ranks of the order statistics bounding the ``q`` quantile of ``n`` values:
    ``round(nq - z·sqrt(nq(1-q)))`` and ``round(nq + z·sqrt(nq(1-q))) + 1`` (Conover's normal
    approximation), clamped to the sample. Distribution-free: nothing assumed about the shape.
    """
    if n <= 0:
        raise ValueError("no values")
    centre, spread = n * q, z * math.sqrt(n * q * (1 - q))
    low = min(n, max(1, round(centre - spread)))
    high = min(n, max(1, round(centre + spread) + 1))
    return low, high


def quantile_interval(
    values: Sequence[float], q: float, z: float = 1.959963984540054
) -> tuple[float, float]:
    """Distribution-free confidence interval for the ``q`` quantile of ``values``."""
    ordered = sorted(values)
    low, high = quantile_ranks(len(ordered), q, z)
    return ordered[low - 1], ordered[high - 1]


@dataclass(frozen=True)
class Excess:
    """The candidate's disagreement rate minus the noise floor, judged against ``delta``.

    ``status``: ``pass`` when the estimate is within delta, ``fail`` when even the one-sided lower
    bound is beyond it, ``marginal`` in between.
    """

    difference: Difference
    delta: float
    status: str


def excess_disagreement(
    disagreements: int,
    n: int,
    noise_disagreements: int,
    noise_n: int,
    *,
    delta: float,
    confidence: float = 0.95,
) -> Excess:
    """One-sided test of ``disagreement - noise > delta`` with Newcombe's interval."""
    diff = newcombe_interval(
        disagreements, n, noise_disagreements, noise_n, z_one_sided(confidence)
    )
    status = "pass" if diff.estimate <= delta else "fail" if diff.low > delta else "marginal"
    return Excess(diff, delta, status)
