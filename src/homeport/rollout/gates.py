"""The gates a step must keep, and how one check of them comes out.

Each gate answers ``pass`` (the estimate is within the limit), ``fail`` (beyond the limit with the
plan's one-sided confidence), ``marginal`` (beyond the limit, but not surely: a person decides) or
``missing`` (no data to judge: counts as a failure, so a silent gateway never promotes).

- error rate: homeport's ≤ max(floor, managed's + margin)
- p95 latency and p95 time to first token: homeport's ≤ ratio x managed's
- equivalence: homeport's disagreement rate minus the noise floor (baseline against itself) ≤ δ
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from homeport.compare.stats import excess_disagreement, wilson_interval, z_one_sided
from homeport.rollout.evidence import Evidence, Histogram, json_number
from homeport.rollout.plan import Gates


class GateStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    MARGINAL = "marginal"
    MISSING = "missing"
    NOT_APPLICABLE = "n/a"


@dataclass(frozen=True)
class GateResult:
    gate: str
    status: GateStatus
    observed: float | None = None
    limit: float | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "status": self.status.value,
            "observed": json_number(self.observed),
            "limit": json_number(self.limit),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Check:
    results: tuple[GateResult, ...]

    @property
    def status(self) -> GateStatus:
        statuses = {r.status for r in self.results}
        if statuses & {GateStatus.FAIL, GateStatus.MISSING}:
            return GateStatus.FAIL
        if GateStatus.MARGINAL in statuses:
            return GateStatus.MARGINAL
        return GateStatus.PASS

    def reason(self) -> str:
        if self.status is GateStatus.PASS:
            return "all gates pass"
        return "; ".join(
            f"{r.gate} {r.status.value}: {r.detail}"
            for r in self.results
            if r.status in (GateStatus.FAIL, GateStatus.MISSING, GateStatus.MARGINAL)
        )

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "gates": [r.to_dict() for r in self.results]}


def _error_rate(evidence: Evidence, gates: Gates, z: float) -> GateResult:
    managed, candidate = evidence.managed, evidence.candidate
    if not managed.requests or not candidate.requests:
        side = "managed" if not managed.requests else "homeport"
        return GateResult("error_rate", GateStatus.MISSING, detail=f"no {side} requests")
    limit = max(gates.error_rate_floor, managed.errors / managed.requests + gates.error_rate_margin)
    rate = candidate.errors / candidate.requests
    detail = f"{candidate.errors}/{candidate.requests} = {rate:.2%} vs limit {limit:.2%}"
    if rate <= limit:
        return GateResult("error_rate", GateStatus.PASS, rate, limit, detail)
    low, _ = wilson_interval(candidate.errors, candidate.requests, z)
    status = GateStatus.FAIL if low > limit else GateStatus.MARGINAL
    return GateResult("error_rate", status, rate, limit, f"{detail} (lower bound {low:.2%})")


def _quantile_gate(
    gate: str, managed: Histogram, candidate: Histogram, ratio: float, z: float
) -> GateResult:
    if not managed.total and not candidate.total:
        return GateResult(gate, GateStatus.NOT_APPLICABLE, detail="no samples on either side")
    if not managed.total or not candidate.total:
        side = "managed" if not managed.total else "homeport"
        return GateResult(gate, GateStatus.MISSING, detail=f"no {side} samples")
    base = managed.quantile(0.95)
    limit = ratio * base
    observed = candidate.quantile(0.95)
    detail = f"p95 {observed:.3f}s vs limit {limit:.3f}s ({ratio} x {base:.3f}s)"
    if observed <= limit:
        return GateResult(gate, GateStatus.PASS, observed, limit, detail)
    candidate_low, _ = candidate.quantile_interval(0.95, z)
    _, managed_high = managed.quantile_interval(0.95, z)
    status = GateStatus.FAIL if candidate_low > ratio * managed_high else GateStatus.MARGINAL
    return GateResult(gate, status, observed, limit, detail)


def _equivalence(evidence: Evidence, gates: Gates) -> GateResult:
    if not evidence.pairs:
        return GateResult("equivalence", GateStatus.MISSING, detail="no scored answer pairs")
    if not evidence.noise_pairs:
        return GateResult(
            "equivalence",
            GateStatus.MISSING,
            detail="no noise floor: run 'homeport compare --record ROLLOUT' first",
        )
    excess = excess_disagreement(
        evidence.disagreements,
        evidence.pairs,
        evidence.noise_disagreements,
        evidence.noise_pairs,
        delta=gates.equivalence_delta,
        confidence=gates.confidence,
    )
    diff = excess.difference
    detail = (
        f"disagreement {evidence.disagreements}/{evidence.pairs} minus noise "
        f"{evidence.noise_disagreements}/{evidence.noise_pairs} = {diff.estimate:+.2%} "
        f"vs delta {excess.delta:.2%} (lower bound {diff.low:+.2%})"
    )
    return GateResult("equivalence", GateStatus(excess.status), diff.estimate, excess.delta, detail)


def evaluate(evidence: Evidence, gates: Gates) -> Check:
    """Check every gate on ``evidence``; one-sided bounds at ``gates.confidence``."""
    z = z_one_sided(gates.confidence)
    return Check(
        (
            _error_rate(evidence, gates, z),
            _quantile_gate(
                "latency_p95",
                evidence.managed.latency,
                evidence.candidate.latency,
                gates.latency_ratio,
                z,
            ),
            _quantile_gate(
                "ttft_p95", evidence.managed.ttft, evidence.candidate.ttft, gates.ttft_ratio, z
            ),
            _equivalence(evidence, gates),
        )
    )
