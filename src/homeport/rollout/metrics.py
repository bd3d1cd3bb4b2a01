"""Prometheus gauges of a rollout, read from the store at scrape time.

Register ``RolloutCollector`` on any registry (the gateway's, or ``homeport rollout run
--metrics-port``): every replica reports the same values because they come from the shared store.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from homeport.compare.records import NOISE, SHADOW, tally
from homeport.rollout.state import current
from homeport.store.db import Database


class RolloutCollector(Collector):
    def __init__(self, db: Database, rollout_id: str) -> None:
        self.db = db
        self.rollout_id = rollout_id

    def collect(self) -> Iterator[Metric]:
        row = current(self.db, self.rollout_id)
        if row is None:
            return
        labels = [self.rollout_id]

        def gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, text, labels=["rollout"])
            family.add_metric(labels, value)
            return family

        yield gauge(
            "homeport_rollout_weight", "Share of new conversations sent to homeport", row.weight
        )
        yield gauge(
            "homeport_rollout_step",
            "Index of the current step (-1 before the first)",
            row.step_index,
        )
        yield gauge(
            "homeport_rollout_failed_checks", "Consecutive failed gate checks", row.failed_checks
        )
        phase = GaugeMetricFamily(
            "homeport_rollout_phase",
            "The current phase and status (1)",
            labels=["rollout", "phase", "status"],
        )
        phase.add_metric([self.rollout_id, row.phase, row.status], 1)
        yield phase
        pairs = tally(self.db, kind=SHADOW, since=row.started_at)
        noise = tally(self.db, kind=NOISE, rollout_id=row.id)
        yield gauge(
            "homeport_rollout_pairs", "Scored answer pairs since the rollout began", pairs.pairs
        )
        yield gauge(
            "homeport_rollout_noise_pairs", "Scored noise pairs (baseline vs itself)", noise.pairs
        )
        if pairs.pairs:
            yield gauge(
                "homeport_rollout_equivalence",
                "Share of answer pairs judged equivalent",
                1 - pairs.disagreements / pairs.pairs,
            )
        if noise.pairs:
            yield gauge(
                "homeport_rollout_noise_disagreement",
                "Disagreement of the baseline against itself (the noise floor)",
                noise.disagreements / noise.pairs,
            )
        if pairs.pairs and noise.pairs:
            yield gauge(
                "homeport_rollout_disagreement_beyond_noise",
                "Candidate disagreement minus the noise floor",
                pairs.disagreements / pairs.pairs - noise.disagreements / noise.pairs,
            )
