"""The demo's steps in order, and the runner: each step printed, timed, summarised; everything
started is stopped at the end, also when a step fails."""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table

from homeport.demo import canary, cutover, migration, runtime
from homeport.demo.state import DEMO_PLAN, Demo, DemoFailed, Step
from homeport.rollout.plan import RolloutPlan

STEPS: list[tuple[str, Step]] = [
    ("1. sample deployment", migration.write_sample),
    ("2. export + verify", migration.export_bundle),
    ("3. audit", migration.audit_bundle),
    ("4. import + reconcile", migration.import_and_reconcile),
    ("5. model", runtime.start_model),
    ("5. homeport serve", runtime.start_homeport),
    ("5. continue an imported thread", runtime.continue_imported_thread),
    ("5. ... as a Responses conversation", runtime.continue_as_conversation),
    ("6. managed stand-in", cutover.start_managed),
    ("6. gateway", cutover.start_gateway),
    ("6. shadow", cutover.shadow_phase),
    ("6. homeport compare", cutover.compare_recorded),
    ("6. rollout", canary.roll_out),
    ("6. rollout report", canary.rollout_report),
]


def _run_step(demo: Demo, title: str, step: Step) -> dict[str, Any]:
    demo.console.print(Rule(f"[bold]{title}[/bold]", align="left"))
    started = time.monotonic()
    try:
        headline = step(demo)
    except DemoFailed as exc:
        raise DemoFailed(f"step '{title}' failed: {exc}") from exc
    except Exception as exc:  # any failure ends the demo with one line naming the step
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DemoFailed(f"step '{title}' failed: {type(exc).__name__}: {reason}") from exc
    seconds = round(time.monotonic() - started, 2)
    demo.say(f"[green]✓[/green] {escape(headline)} [dim]({seconds:.1f}s)[/dim]")
    return {"step": title, "function": step.__name__, "seconds": seconds, "headline": headline}


def _summary(demo: Demo, steps: list[dict[str, Any]], seconds: float) -> None:
    table = Table("step", "result", "seconds", title="homeport demo", title_justify="left")
    for step in steps:
        table.add_row(step["step"], escape(step["headline"]), f"{step['seconds']:.1f}")
    demo.console.print(Rule())
    demo.console.print(table)
    demo.console.print(f"done in {seconds:.0f}s; everything it started is stopped")


def run_demo(
    *,
    model: str = "local",
    threads: int = 120,
    persona: str = "homeport",
    plan: RolloutPlan = DEMO_PLAN,
    console: Console | None = None,
    workdir: Path | None = None,
    keep: bool = False,
) -> dict[str, Any]:
    """Run every step in a fresh folder (``workdir``, else a temporary one removed at the end
    unless ``keep``), then stop everything; returns the summary ``--json`` prints.

    ``persona`` marks homeport's answers when ``model`` is "scripted"; "managed" makes homeport
    answer exactly as the managed stand-in does (an equivalent candidate). ``plan`` is the
    rollout plan the controller follows.
    """
    console = console or Console()
    folder = workdir or Path(tempfile.mkdtemp(prefix="homeport-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    kept = keep or workdir is not None
    started = time.monotonic()
    steps: list[dict[str, Any]] = []
    try:
        with ExitStack() as stack:
            demo = Demo(
                workdir=folder,
                console=console,
                stack=stack,
                model=model,
                threads=threads,
                persona=persona,
                plan=plan,
            )
            for title, step in STEPS:
                steps.append(_run_step(demo, title, step))
    except DemoFailed as exc:
        hint = f"logs in {folder}" if kept else "--keep keeps the logs"
        raise DemoFailed(f"{exc} ({hint})") from exc
    finally:
        if not kept:
            shutil.rmtree(folder, ignore_errors=True)
    seconds = round(time.monotonic() - started, 1)
    _summary(demo, steps, seconds)
    if kept:
        console.print(f"kept {folder}", highlight=False)
    return {
        "ok": True,
        "model": model,
        "seconds": seconds,
        "workdir": str(folder) if kept else None,
        "steps": steps,
        "results": demo.results,
    }
