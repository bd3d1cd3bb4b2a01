"""Gate logic, table-driven: pass, fail, marginal and missing data for every gate."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from homeport.gateway.seams import LATENCY_BOUNDS
from homeport.rollout.evidence import Evidence, Histogram, SideEvidence
from homeport.rollout.gates import GateStatus, evaluate
from homeport.rollout.plan import Gates

N_BUCKETS = len(LATENCY_BOUNDS) + 1


def hist(**counts: int) -> Histogram:
    """Counts by bucket upper bound, e.g. hist(b0_5=90, b1_0=10); ``inf`` for the open bucket."""
    buckets = [0] * N_BUCKETS
    for name, count in counts.items():
        bound = math.inf if name == "inf" else float(name[1:].replace("_", "."))
        index = N_BUCKETS - 1 if bound == math.inf else LATENCY_BOUNDS.index(bound)
        buckets[index] = count
    return Histogram(tuple(buckets))


FAST = hist(b0_25=950, b0_5=50)  # p95 in the 0.25 s bucket
SLOW = hist(b0_25=500, b2_5=500)  # p95 in the 2.5 s bucket


def side(
    requests: int = 1000, errors: int = 0, latency: Histogram = FAST, ttft: Histogram = FAST
) -> SideEvidence:
    return SideEvidence(requests=requests, errors=errors, latency=latency, ttft=ttft)


GOOD = Evidence(
    managed=side(),
    candidate=side(),
    conversations=100,
    pairs=1000,
    disagreements=100,
    noise_pairs=1000,
    noise_disagreements=90,
)


def status_of(evidence: Evidence, gate: str) -> GateStatus:
    check = evaluate(evidence, Gates())
    return next(r.status for r in check.results if r.gate == gate)


@pytest.mark.parametrize(
    ("name", "evidence", "gate", "expected"),
    [
        ("all good", GOOD, "error_rate", GateStatus.PASS),
        (
            "under the 1% floor",
            replace(GOOD, candidate=side(errors=9)),
            "error_rate",
            GateStatus.PASS,
        ),
        (
            "managed noisy: limit is managed + 0.5 pp",
            replace(GOOD, managed=side(errors=50), candidate=side(errors=54)),
            "error_rate",
            GateStatus.PASS,
        ),
        (
            "half the calls fail",
            replace(GOOD, candidate=side(errors=500)),
            "error_rate",
            GateStatus.FAIL,
        ),
        (
            "just over, not surely",
            replace(GOOD, candidate=side(errors=13)),
            "error_rate",
            GateStatus.MARGINAL,
        ),
        (
            "no homeport traffic",
            replace(GOOD, candidate=side(requests=0)),
            "error_rate",
            GateStatus.MISSING,
        ),
        (
            "no managed traffic",
            replace(GOOD, managed=side(requests=0)),
            "error_rate",
            GateStatus.MISSING,
        ),
        ("same latency", GOOD, "latency_p95", GateStatus.PASS),
        (
            "ten times slower",
            replace(GOOD, candidate=side(latency=SLOW)),
            "latency_p95",
            GateStatus.FAIL,
        ),
        (
            "slower only at the tail, few samples",
            replace(GOOD, candidate=side(latency=hist(b0_25=18, b0_5=2))),
            "latency_p95",
            GateStatus.MARGINAL,
        ),
        (
            "beyond the last bucket",
            replace(GOOD, candidate=side(latency=hist(inf=1000))),
            "latency_p95",
            GateStatus.FAIL,
        ),
        (
            "no homeport latency",
            replace(GOOD, candidate=side(latency=Histogram())),
            "latency_p95",
            GateStatus.MISSING,
        ),
        (
            "nothing streamed on either side",
            replace(GOOD, managed=side(ttft=Histogram()), candidate=side(ttft=Histogram())),
            "ttft_p95",
            GateStatus.NOT_APPLICABLE,
        ),
        (
            "homeport streams slowly",
            replace(GOOD, candidate=side(ttft=SLOW)),
            "ttft_p95",
            GateStatus.FAIL,
        ),
        ("equivalent within noise", GOOD, "equivalence", GateStatus.PASS),
        ("far beyond noise", replace(GOOD, disagreements=300), "equivalence", GateStatus.FAIL),
        (
            "a little beyond delta, few pairs",
            replace(GOOD, pairs=100, disagreements=14, noise_pairs=100, noise_disagreements=9),
            "equivalence",
            GateStatus.MARGINAL,
        ),
        ("no pairs", replace(GOOD, pairs=0, disagreements=0), "equivalence", GateStatus.MISSING),
        (
            "no noise floor",
            replace(GOOD, noise_pairs=0, noise_disagreements=0),
            "equivalence",
            GateStatus.MISSING,
        ),
    ],
)
def test_gate(name: str, evidence: Evidence, gate: str, expected: GateStatus) -> None:
    assert status_of(evidence, gate) is expected, name


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        (GOOD, GateStatus.PASS),
        (replace(GOOD, candidate=side(errors=13)), GateStatus.MARGINAL),
        (replace(GOOD, candidate=side(errors=500)), GateStatus.FAIL),
        (replace(GOOD, pairs=0, disagreements=0), GateStatus.FAIL),  # missing data fails
        (replace(GOOD, candidate=side(errors=13), pairs=0, disagreements=0), GateStatus.FAIL),
    ],
)
def test_check_outcome(evidence: Evidence, expected: GateStatus) -> None:
    check = evaluate(evidence, Gates())
    assert check.status is expected
    if expected is not GateStatus.PASS:
        assert check.reason() != "all gates pass"


def test_histogram_quantiles_interpolate_within_a_bucket() -> None:
    h = hist(b0_1=50, b0_25=50)
    assert h.quantile(0.5) == pytest.approx(0.1)
    assert h.quantile(0.75) == pytest.approx(0.175)
    assert h.quantile(1.0) == pytest.approx(0.25)
    assert hist(inf=3).quantile(0.5) == math.inf


def test_check_evidence_is_json_safe() -> None:
    check = evaluate(replace(GOOD, candidate=side(latency=hist(inf=1000))), Gates())
    latency = next(r for r in check.to_dict()["gates"] if r["gate"] == "latency_p95")
    assert latency["observed"] == "inf"
