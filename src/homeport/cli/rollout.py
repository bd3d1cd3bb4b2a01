"""``homeport rollout``: status, promote, pause, resume, rollback, evacuate, the controller loop,
reports."""

from __future__ import annotations

import getpass
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from homeport.cli.common import console, print_json, settings
from homeport.cli.progress import bars

if TYPE_CHECKING:
    from homeport.rollout.controller import Controller
    from homeport.rollout.evacuate import EvacuationResult

app = typer.Typer(
    help="Cut over step by step, with gates and automatic rollback.", no_args_is_help=True
)

Gateway = Annotated[str, typer.Option("--gateway", "-g", help="The gateway's name.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Reason = Annotated[str, typer.Option(help="Why (goes to the audit log).")]


@contextmanager
def _controller(
    gateway: str,
    *,
    actor: str | None = None,
    limit: int | None = None,
    show_progress: bool = True,
) -> Iterator[Controller]:
    from homeport.compare.deps import build_dependencies
    from homeport.compare.pipeline import Pipeline
    from homeport.rollout.collect import StoreEvidence
    from homeport.rollout.controller import CONTROLLER, Controller
    from homeport.rollout.evacuate import Evacuator
    from homeport.services import Services
    from homeport.store.bootstrap import prepare_database

    who = actor or CONTROLLER
    services = Services.from_settings(settings())
    prepare_database(services)
    # Shadow pairs are scored by the comparators ``homeport compare`` uses by default, so they
    # are judged as the noise floor was.
    deps, _ = build_dependencies(services.settings)
    pipeline = Pipeline.build(deps)
    plan = services.settings.rollout

    def evacuate() -> EvacuationResult:
        # Built when needed: a missing key must never stand in the way of a rollback.
        with bars(show_progress) as progress:
            evacuator = Evacuator.from_settings(
                services.db,
                gateway,
                plan.evacuation,
                actor=who,
                progress=lambda stage, done, total: progress.update(
                    f"evacuate: {stage}", done, total
                ),
            )
            return evacuator.run(limit)

    try:
        yield Controller(
            services.db, plan, gateway, StoreEvidence(services.db, pipeline), evacuate=evacuate
        )
    finally:
        services.db.dispose()


def status_data(controller: Controller, history: int = 10) -> dict[str, Any]:
    from homeport.rollout.state import current, decision_dict, decisions

    row = current(controller.db, controller.rollout_id)
    plan = controller.plan
    log = decisions(controller.db, controller.rollout_id, history)
    last_check = next((d for d in reversed(log) if d.evidence.get("check")), None)
    data: dict[str, Any] = {
        "gateway": controller.rollout_id,
        "status": row.status if row else "idle",
        "mode": row.mode if row else "passthrough",
        "phase": row.phase if row else "passthrough",
        "weight": row.weight if row else 0.0,
        "step": row.step_index if row else -1,
        "steps": [s.name for s in plan.steps],
        "step_started_at": row.step_started_at if row else None,
        "failed_checks": row.failed_checks if row else 0,
        "max_failed_checks": plan.max_failed_checks,
        "reason": row.reason if row else None,
        "version": row.version if row else 0,
        "last_check": decision_dict(last_check) if last_check else None,
        "decisions": [decision_dict(d) for d in log],
    }
    return data


def render_status(data: dict[str, Any]) -> Group:
    steps = " → ".join(
        f"[bold reverse]{name}[/]" if i == data["step"] else name
        for i, name in enumerate(data["steps"])
    )
    colour = {"running": "green", "paused": "yellow", "rolled_back": "red"}.get(
        data["status"], "white"
    )
    head = (
        f"[{colour}]{data['status']}[/]  phase [bold]{data['phase']}[/]  "
        f"weight [bold]{data['weight']:.0%}[/]  failed checks "
        f"{data['failed_checks']}/{data['max_failed_checks']}\n{steps}"
    )
    if data["reason"]:
        head += f"\n[dim]{data['reason']}[/]"
    parts: list[Any] = [Panel(head, title=f"rollout {data['gateway']}", expand=False)]
    if data["last_check"]:
        gates = Table("gate", "status", "observed", "limit", "detail", title="last check")
        for gate in data["last_check"]["evidence"]["check"]["gates"]:
            style = {"pass": "green", "fail": "red", "missing": "red", "marginal": "yellow"}.get(
                gate["status"], "dim"
            )
            gates.add_row(
                gate["gate"],
                f"[{style}]{gate['status']}[/]",
                _num(gate["observed"]),
                _num(gate["limit"]),
                gate["detail"],
            )
        parts.append(gates)
    log = Table("time", "action", "by", "weight", "reason", title="recent decisions")
    for d in data["decisions"]:
        log.add_row(
            time.strftime("%H:%M:%S", time.localtime(d["at"])),
            d["action"],
            d["actor"],
            f"{d['weight_before']:.0%} → {d['weight_after']:.0%}",
            d["reason"],
        )
    parts.append(log)
    return Group(*parts)


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else str(value or "")


def _act(gateway: str, action: str, reason: str, actor: str | None, as_json: bool) -> None:
    from homeport.rollout.state import decision_dict

    who = actor or getpass.getuser()
    with _controller(gateway, actor=who, show_progress=not as_json) as controller:
        decision = getattr(controller, action)(who, reason)
        if as_json:
            print_json(decision_dict(decision))
        else:
            console.print(f"{decision.action}: {decision.reason}", highlight=False)


Actor = Annotated[str | None, typer.Option(help="Who decides (default: the user).")]


@app.command("status")
def status_cmd(gateway: Gateway = "default", as_json: Json = False) -> None:
    """The rollout's phase, weight, last gate check and recent decisions."""
    with _controller(gateway) as controller:
        data = status_data(controller)
    if as_json:
        print_json(data)
    else:
        console.print(render_status(data))


@app.command("promote")
def promote_cmd(
    gateway: Gateway = "default", reason: Reason = "", actor: Actor = None, as_json: Json = False
) -> None:
    """Start the rollout, or move to the next step now (gates are not waited for)."""
    _act(gateway, "promote", reason, actor, as_json)


@app.command("pause")
def pause_cmd(
    gateway: Gateway = "default", reason: Reason = "", actor: Actor = None, as_json: Json = False
) -> None:
    """Hold the current weight; no checks, no promotion until resumed."""
    _act(gateway, "pause", reason, actor, as_json)


@app.command("resume")
def resume_cmd(
    gateway: Gateway = "default", reason: Reason = "", actor: Actor = None, as_json: Json = False
) -> None:
    """Continue a paused rollout (the failed-check count starts again from zero)."""
    _act(gateway, "resume", reason, actor, as_json)


@app.command("rollback")
def rollback_cmd(
    gateway: Gateway = "default", reason: Reason = "", actor: Actor = None, as_json: Json = False
) -> None:
    """Stop sending new conversations to homeport now."""
    _act(gateway, "rollback", reason, actor, as_json)


@app.command("evacuate")
def evacuate_cmd(
    gateway: Gateway = "default",
    reason: Reason = "",
    actor: Actor = None,
    limit: Annotated[
        int | None, typer.Option(help="Move at most this many conversations now.", min=1)
    ] = None,
    as_json: Json = False,
) -> None:
    """After a rollback: move conversations pinned to homeport to the managed side by replaying
    their transcripts (resumable: a rerun continues where the last one stopped)."""
    from homeport.rollout.state import decision_dict

    who = actor or getpass.getuser()
    with _controller(gateway, actor=who, limit=limit, show_progress=not as_json) as controller:
        decision = controller.evacuate_pinned(who, reason)
    if as_json:
        print_json(decision_dict(decision))
    else:
        console.print(f"{decision.action}: {decision.reason}", highlight=False)


@app.command("run")
def run_cmd(
    gateway: Gateway = "default",
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve gauges on 127.0.0.1:PORT.")
    ] = None,
    once: Annotated[bool, typer.Option(help="One tick, then exit.")] = False,
    as_json: Json = False,
) -> None:
    """The controller loop: check the gates every interval until complete or rolled back."""
    from prometheus_client import CollectorRegistry, start_http_server

    from homeport.rollout.metrics import RolloutCollector
    from homeport.rollout.state import COMPLETED, ROLLED_BACK, current, decision_dict

    with _controller(gateway, show_progress=not as_json) as controller:
        if metrics_port is not None:
            registry = CollectorRegistry()
            registry.register(RolloutCollector(controller.db, gateway))
            start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
        while True:
            decision = controller.tick()
            if decision is not None:
                if as_json:
                    print_json(decision_dict(decision))
                else:
                    console.print(f"{decision.action}: {decision.reason}", highlight=False)
            row = current(controller.db, gateway)
            if once or (row is not None and row.status in (ROLLED_BACK, COMPLETED)):
                return
            time.sleep(min(5.0, controller.plan.check_interval_seconds / 4))


@app.command("report")
def report_cmd(
    gateway: Gateway = "default",
    step: Annotated[str | None, typer.Option(help="Only this step (e.g. canary-5).")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the HTML.")] = Path(
        "rollout-report.html"
    ),
) -> None:
    """An HTML report per step: gate values at each check, decisions, worst differences."""
    from homeport.rollout.report import render_rollout_html

    with _controller(gateway) as controller:
        out.write_text(render_rollout_html(controller.db, gateway, step), encoding="utf-8")
    console.print(f"wrote {out}", highlight=False)
