"""Statistics against published values (Wilson 1927 via Newcombe 1998; Newcombe 1998 method 10)."""

from __future__ import annotations

import pytest

from homeport.compare.stats import (
    excess_disagreement,
    newcombe_interval,
    quantile,
    quantile_interval,
    quantile_ranks,
    wilson_interval,
    z_one_sided,
    z_two_sided,
)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),  # Newcombe 1998, table I
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (8, 10, 0.4902, 0.9433),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_interval_matches_published_values(
    successes: int, n: int, low: float, high: float
) -> None:
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_without_samples_is_uninformative() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 7)[0] == 0.0  # exactly, not a rounding error away
    assert wilson_interval(7, 7)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),  # Newcombe 1998, table II, example (a)
        (9, 10, 3, 10, 0.1705, 0.8090),  # example (b)
        (5, 56, 0, 29, -0.0381, 0.1926),  # example (c)
    ],
)
def test_newcombe_interval_matches_published_values(
    x1: int, n1: int, x2: int, n2: int, low: float, high: float
) -> None:
    diff = newcombe_interval(x1, n1, x2, n2)
    assert (diff.low, diff.high) == pytest.approx((low, high), abs=5e-5)
    assert diff.estimate == pytest.approx(x1 / n1 - x2 / n2)


def test_normal_quantiles() -> None:
    assert z_two_sided(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_one_sided(0.95) == pytest.approx(1.644854, abs=1e-6)


def test_quantiles_by_nearest_rank_and_their_interval() -> None:
    values = list(range(1, 101))
    assert quantile(values, 0.95) == 95
    assert quantile(values, 0.5) == 50
    # n=100, q=0.95: ranks 95 -/+ 1.96*sqrt(4.75) = 90.7 and 99.3, rounded, +1 on the high side.
    assert quantile_ranks(100, 0.95) == (91, 100)
    assert quantile_interval(values, 0.95) == (91, 100)
    assert quantile_ranks(1, 0.95) == (1, 1)


@pytest.mark.parametrize(
    ("disagree", "n", "noise", "noise_n", "status"),
    [
        # 10% vs a 8% noise floor: 2 pp beyond noise, within delta 3 pp.
        (100, 1000, 80, 1000, "pass"),
        # 20% vs 5%: 15 pp beyond noise, surely beyond delta.
        (200, 1000, 50, 1000, "fail"),
        # 9% vs 5% on small samples: 4 pp, not surely beyond 3 pp.
        (18, 200, 10, 200, "marginal"),
        # The same raw rate is fine when the baseline is that noisy itself.
        (200, 1000, 190, 1000, "pass"),
    ],
)
def test_disagreement_beyond_noise(
    disagree: int, n: int, noise: int, noise_n: int, status: str
) -> None:
    excess = excess_disagreement(disagree, n, noise, noise_n, delta=0.03)
    assert excess.status == status
    assert excess.difference.estimate == pytest.approx(disagree / n - noise / noise_n)
