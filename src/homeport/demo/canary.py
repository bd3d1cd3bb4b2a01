"""Step 6, second half: the rollout controller steps through the demo's plan, checking its gates
on the evidence the gateway collects, and the rollout report.

The demo drives traffic whenever a step needs samples; the controller decides to promote, pause
or roll back. A candidate that fails its gates on evidence in shadow (a 135M local model against
the managed side will) is promoted once by hand, as a person may (``homeport rollout promote``),
so that the demo shows a canary: new conversations split by the weight, each staying on its
side, and the controller rolling the canary back by itself after its failed checks. That is the
system working, and the demo still succeeds.
"""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape

from homeport.cli.rollout import render_status, status_data
from homeport.demo.cutover import ACTOR, wait_for_routing
from homeport.demo.state import Demo
from homeport.demo.traffic import continuing, converse, remember
from homeport.rollout.report import render_rollout_html
from homeport.rollout.state import PAUSED, RUNNING, current
from homeport.store.models.rollout import RolloutDecision

BATCH = 12  # new conversations per batch of canary traffic
MAX_DECISIONS = 24
TICK_SECONDS = 0.25
STATS_SETTLE_SECONDS = 1.5  # the gateway writes side stats every second (stats_seconds = 1)
HAND_PROMOTION = "promoted by hand past the failed shadow gates, to show a canary and its rollback"


def _wants_traffic(decision: RolloutDecision) -> bool:
    """A new step, or a check that lacked samples, gets another batch of conversations."""
    if decision.action in ("start", "promote"):
        return True
    if decision.action != "check":
        return False
    check = decision.evidence.get("check") or {}
    if any(gate["status"] == "missing" for gate in check.get("gates", ())):
        return True
    ready = (decision.evidence.get("readiness") or {}).get("ready", False)
    return check.get("status") != "fail" and not ready


def _promote_by_hand(decision: RolloutDecision) -> bool:
    """A shadow check that failed on evidence (no gate short of data): the controller would roll
    back at the next failures, without a canary to show."""
    if decision.action != "check" or decision.phase_after != "shadow":
        return False
    check = decision.evidence.get("check") or {}
    gates = check.get("gates", ())
    return check.get("status") == "fail" and all(g["status"] != "missing" for g in gates)


def _show(demo: Demo, decision: RolloutDecision) -> None:
    colour = {"promote": "green", "complete": "green", "rollback": "red", "pause": "yellow"}
    style = colour.get(decision.action, "white")
    demo.say(
        f"[{style}]{decision.action}[/{style}] {decision.phase_before} → {decision.phase_after} "
        f"({decision.weight_before:.0%} → {decision.weight_after:.0%}): {escape(decision.reason)}"
    )


def _drive(demo: Demo, phase: str, batch: int) -> dict[str, Any]:
    wait_for_routing(demo, phase)
    assistant_id = demo.results["continue_thread"]["assistant_id"]
    existing = continuing(demo)
    with demo.console.status(f"{phase}: {BATCH} new and {len(existing)} earlier conversations"):
        traffic = converse(demo, assistant_id, new=BATCH, existing=existing, offset=batch * BATCH)
    continued = remember(demo, traffic)
    demo.say(
        f"  {phase}: {BATCH} new conversations and {continued} earlier ones (each on its own "
        f"side), served by {traffic.sides}"
    )
    time.sleep(STATS_SETTLE_SECONDS)  # the batch's side stats are written before the check
    return {
        "phase": phase,
        "conversations": traffic.conversations,
        "continued": continued,
        "sides": traffic.sides,
    }


def _tick(demo: Demo) -> RolloutDecision:
    controller = demo.rollout()
    while (decision := controller.tick()) is None:
        time.sleep(TICK_SECONDS)
    return decision


def roll_out(demo: Demo) -> str:
    """Let the controller check the gates and act until the rollout completes, pauses or rolls
    back (the demo pauses it by hand if it has not settled after ``MAX_DECISIONS`` checks)."""
    controller = demo.rollout()
    batches: list[dict[str, Any]] = []
    taken: list[RolloutDecision] = []
    row = current(controller.db, controller.rollout_id)
    while row is not None and row.status == RUNNING:
        if taken and _wants_traffic(taken[-1]):
            batches.append(_drive(demo, row.phase, len(batches)))
        if len(taken) >= MAX_DECISIONS:
            taken.append(controller.pause(ACTOR, "the demo's time is up"))
            _show(demo, taken[-1])
            break
        taken.append(_tick(demo))
        _show(demo, taken[-1])
        if _promote_by_hand(taken[-1]):
            taken.append(controller.promote(ACTOR, HAND_PROMOTION))
            _show(demo, taken[-1])
        row = current(controller.db, controller.rollout_id)
    assert row is not None
    demo.results["rollout"] = {**status_data(controller, history=1000), "traffic": batches}
    outcome = {PAUSED: "paused for a person", RUNNING: "still running"}.get(row.status, row.status)
    return f"{outcome} at {row.phase} (weight {row.weight:.0%}) after {len(taken)} decisions"


def rollout_report(demo: Demo) -> str:
    """The rollout's status as ``homeport rollout status`` shows it, and the HTML report."""
    controller = demo.rollout()
    facts = demo.results["rollout"]
    demo.console.print(render_status(status_data(controller, history=len(facts["decisions"]))))
    path = demo.workdir / "rollout-report.html"
    path.write_text(render_rollout_html(controller.db, controller.rollout_id), encoding="utf-8")
    facts["report"] = str(path)
    return f"{facts['status']} at {facts['phase']}; HTML report in {path}"
