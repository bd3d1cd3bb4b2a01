"""The HTML report of a rollout, one section per step: gate values at every check (inline SVG),
the decisions with their reasons, and the worst answer differences seen in the step."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from sqlalchemy import select

from homeport.compare.report import shown_answer
from homeport.compare.svg import line_chart, page
from homeport.rollout.state import current, decisions
from homeport.store.db import Database
from homeport.store.models.rollout import ComparisonRecord, RolloutDecision

WORST = 10


def _series(checks: list[RolloutDecision], gate: str) -> dict[str, list[tuple[float, float]]]:
    observed: list[tuple[float, float]] = []
    limit: list[tuple[float, float]] = []
    start = checks[0].at if checks else 0.0
    for decision in checks:
        for result in (decision.evidence.get("check") or {}).get("gates", []):
            if result["gate"] != gate:
                continue
            x = (decision.at - start) / 60
            for values, key in ((observed, "observed"), (limit, "limit")):
                if isinstance(result.get(key), int | float):
                    values.append((x, float(result[key])))
    return {"homeport": observed, "limit": limit}


def _worst(db: Database, phase: str) -> list[ComparisonRecord]:
    with db.sessions() as session:
        return list(
            session.scalars(
                select(ComparisonRecord)
                .where(ComparisonRecord.phase == phase, ComparisonRecord.outcome == "different")
                .order_by(ComparisonRecord.seq.desc())
                .limit(WORST)
            )
        )


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def step_sections(db: Database, rollout_id: str, phase: str | None = None) -> list[str]:
    log = decisions(db, rollout_id, limit=100_000)
    phases: dict[str, list[RolloutDecision]] = {}
    for decision in log:
        phases.setdefault(decision.phase_before, []).append(decision)
    sections = []
    for name, steps in phases.items():
        if name in ("passthrough", "rolled-back") or (phase is not None and name != phase):
            continue
        checks = [d for d in steps if d.evidence.get("check")]
        parts = [f"<h2>{escape(name)}</h2>"]
        for gate, unit, title in (
            ("error_rate", "%", "Error rate"),
            ("latency_p95", "s", "p95 latency"),
            ("ttft_p95", "s", "p95 time to first token"),
            ("equivalence", "%", "Disagreement beyond noise"),
        ):
            series = _series(checks, gate)
            if series["homeport"]:
                parts.append(
                    line_chart(series, title=f"{title} at each check (minutes)", unit=unit)
                )
        parts.append(
            "<table><tr><th>time (UTC)</th><th>action</th><th>by</th><th>weight</th>"
            "<th>reason</th></tr>"
        )
        parts += [
            f"<tr><td>{_when(d.at)}</td><td>{escape(d.action)}</td>"
            f"<td>{escape(d.actor)}</td><td>{d.weight_before:.0%} → {d.weight_after:.0%}"
            f"</td><td>{escape(d.reason)}</td></tr>"
            for d in steps
        ]
        parts.append("</table>")
        worst = _worst(db, name)
        if worst:
            parts.append(
                "<h3>Worst differences</h3><table class=diff><tr><th>question</th>"
                "<th>managed</th><th>homeport</th><th>why</th></tr>"
            )
            for record in worst:
                why = record.verdicts[-1]["detail"] if record.verdicts else ""
                cells = (
                    record.question,
                    shown_answer(record.baseline),
                    shown_answer(record.candidate),
                    f"{record.decided_by}: {why}",
                )
                parts.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
            parts.append("</table>")
        sections.append("".join(parts))
    return sections


def render_rollout_html(db: Database, rollout_id: str, phase: str | None = None) -> str:
    row = current(db, rollout_id)
    head = (
        f"{escape(row.status)}, phase {escape(row.phase)}, weight {row.weight:.0%}"
        if row
        else "not started"
    )
    body = [
        f"<h1>Rollout {escape(rollout_id)}</h1><p>{head}</p>",
        *step_sections(db, rollout_id, phase),
    ]
    return page(f"homeport rollout {rollout_id}", "".join(body))
