"""Step 6, first half: the managed side, the gateway in front of both sides, a shadow phase, and
``homeport compare`` on recorded conversations (which gives the rollout its noise floor).

The managed platform is played by a second homeport holding the same import, answered by the
scripted model with the persona ``managed`` (every managed answer starts with ``[managed]``).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select

from homeport.compare.comparators.base import Dependencies
from homeport.compare.pipeline import Pipeline
from homeport.compare.records import SHADOW
from homeport.demo.migration import import_into
from homeport.demo.processes import homeport_command, serve_instance, start_process
from homeport.demo.runtime import SUPPORT_AGENT, imported_threads
from homeport.demo.state import Demo, DemoFailed
from homeport.demo.traffic import Traffic, converse, remember
from homeport.gateway.server import open_database
from homeport.rollout.collect import StoreEvidence
from homeport.rollout.controller import Controller
from homeport.store.models.rollout import ComparisonRecord
from homeport.testing.background import free_port
from homeport.testing.scripted_model import ScriptedModelOptions, ScriptedModelServer

ROLLOUT = "demo"
ACTOR = "demo"
SHADOW_NEW, SHADOW_IMPORTED = 16, 8
PAIR_WAIT_SECONDS = 240.0
COMPARE_CONVERSATIONS = 2
COMPARE_MAX_TOKENS = 96  # a small local model may ramble until its context is full
COMPARE_SECONDS = 600
SHOWN_CHARS = 60


def _gateway_database_url(demo: Demo) -> str:
    return f"sqlite:///{demo.workdir / 'gateway' / 'gateway.db'}"


def start_managed(demo: Demo) -> str:
    """A stand-in for the managed platform: the same import, served by another homeport."""
    model = demo.stack.enter_context(ScriptedModelServer(ScriptedModelOptions(persona="managed")))
    imported, checked = import_into(demo.managed, demo)
    if not checked.ok:
        raise DemoFailed("the managed stand-in's import does not reconcile")
    serve_instance(demo, demo.managed, model.base_url, "scripted")
    demo.results["managed"] = {
        "base_url": demo.managed.base_url,
        "records": sum(imported.records.values()),
    }
    return f"a second homeport with the same import at {demo.managed.base_url} ([managed] answers)"


def _write_gateway_config(demo: Demo, port: int, database_url: str) -> Path:
    folder = demo.workdir / "gateway"
    text = f"""\
name = "{ROLLOUT}"
port = {port}
database_url = "{database_url}"
routing = "store"
mode = "passthrough"
refresh_seconds = 0.2
stats_seconds = 1

[managed]
base_url = "{demo.managed.base_url}"
api_key = "{demo.managed.admin_key}"

[homeport]
base_url = "{demo.homeport.base_url}"
api_key = "{demo.homeport.admin_key}"

[shadow]
sink = "store"
timeout_seconds = {PAIR_WAIT_SECONDS}
"""
    path = folder / "gateway.toml"
    path.write_text(text)
    return path


def start_gateway(demo: Demo) -> str:
    """``homeport gateway`` in front of both sides, following the rollout state in its store."""
    folder = demo.workdir / "gateway"
    folder.mkdir(parents=True, exist_ok=True)
    database_url = _gateway_database_url(demo)
    db = open_database(database_url)
    demo.stack.callback(db.dispose)
    port = free_port()
    config = _write_gateway_config(demo, port, database_url)
    start_process(
        demo,
        "homeport gateway",
        homeport_command("gateway", "--config", str(config)),
        f"http://127.0.0.1:{port}/healthz",
        folder / "gateway.log",
    )
    demo.gateway_url = f"http://127.0.0.1:{port}/v1"
    # Shadow pairs are scored with the cheap comparators, as `homeport rollout run` does.
    demo.controller = Controller(
        db, demo.plan, ROLLOUT, StoreEvidence(db, Pipeline.build(Dependencies()))
    )
    demo.results["gateway"] = {"base_url": demo.gateway_url, "config": str(config)}
    return f"at {demo.gateway_url}, in front of managed and homeport, following rollout '{ROLLOUT}'"


def wait_for_routing(demo: Demo, phase: str) -> None:
    """Until the gateway has picked up the rollout's routing for ``phase``."""
    url = demo.gateway_url.removesuffix("/v1") + "/healthz"
    deadline = time.monotonic() + 30
    while httpx.get(url, timeout=5).json()["phase"] != phase:
        if time.monotonic() > deadline:
            raise DemoFailed(f"the gateway did not switch to {phase} within 30s")
        time.sleep(0.1)


def _shadow_records(demo: Demo, since: float) -> list[ComparisonRecord]:
    with demo.rollout().db.sessions() as session:
        return list(
            session.scalars(
                select(ComparisonRecord)
                .where(ComparisonRecord.kind == SHADOW, ComparisonRecord.created_at >= since)
                .order_by(ComparisonRecord.seq)
            )
        )


def _count_shadow(demo: Demo, since: float) -> int:
    with demo.rollout().db.sessions() as session:
        query = select(func.count()).where(
            ComparisonRecord.kind == SHADOW, ComparisonRecord.created_at >= since
        )
        return int(session.scalar(query) or 0)


def _wait_for_pairs(demo: Demo, since: float, expected: int) -> int:
    deadline = time.monotonic() + PAIR_WAIT_SECONDS
    with demo.console.status("") as status:
        while (count := _count_shadow(demo, since)) < expected and time.monotonic() < deadline:
            status.update(f"homeport answering the shadow copies: {count}/{expected} pairs")
            time.sleep(0.5)
    return count


def _shown(answer: dict[str, Any]) -> str:
    return str(answer.get("text") or answer.get("error") or "")


def _show_pairs(demo: Demo, records: list[ComparisonRecord]) -> None:
    table = Table("question", "managed (the client saw)", "homeport (shadow)", title="answer pairs")
    for record in records[:4]:
        table.add_row(
            *(
                escape(str(text)[:SHOWN_CHARS])
                for text in (record.question, _shown(record.baseline), _shown(record.candidate))
            )
        )
    demo.console.print(table)


def shadow_phase(demo: Demo) -> str:
    """Start the rollout (its first step is shadow) and drive support conversations through the
    gateway: clients get managed answers; homeport answers copies; the pairs are stored."""
    controller = demo.rollout()
    decision = controller.promote(ACTOR, "start the cutover")
    demo.say(f"rollout [bold]{decision.action}[/bold]: {decision.reason}")
    wait_for_routing(demo, decision.phase_after)
    since = decision.at
    assistant_id = demo.results["continue_thread"]["assistant_id"]
    continued = demo.results["continue_thread"]["thread_id"]
    legacy = [t.id for t in imported_threads(demo, SUPPORT_AGENT, SHADOW_IMPORTED + 1)]
    legacy = [t for t in legacy if t != continued][:SHADOW_IMPORTED]
    with demo.console.status(f"{SHADOW_NEW + len(legacy)} conversations through the gateway"):
        traffic = converse(demo, assistant_id, new=SHADOW_NEW, existing=legacy)
    if set(traffic.sides) != {"managed"} or not all(
        t.answer.startswith("[managed]") for t in traffic.turns
    ):
        raise DemoFailed(
            f"in shadow mode the client must see managed answers only: {traffic.sides}"
        )
    remember(demo, Traffic([t for t in traffic.turns if t.thread_id not in legacy]))
    pairs = _wait_for_pairs(demo, since, len(traffic.turns))
    records = _shadow_records(demo, since)
    _show_pairs(demo, records)
    comparable = sum(r.outcome != "n/a" for r in records)
    demo.results["shadow"] = {
        "conversations": traffic.conversations,
        "imported_conversations": len(legacy),
        "turns": len(traffic.turns),
        "client_sides": traffic.sides,
        "pairs": pairs,
        "comparable_pairs": comparable,
    }
    if not pairs:
        raise DemoFailed("no answer pair reached the store")
    return (
        f"{len(traffic.turns)} turns ({len(legacy)} on imported threads): the client saw managed "
        f"answers only; {pairs} pairs stored ({comparable} comparable)"
    )


def _write_compare_config(demo: Demo) -> Path:
    """The settings ``homeport compare --record`` uses: the rollout's store."""
    path = demo.workdir / "gateway" / "compare.toml"
    path.write_text(
        f'database_url = "{_gateway_database_url(demo)}"\n'
        f'data_dir = "{demo.workdir / "gateway" / "data"}"\n'
        'log_level = "warning"\n'
    )
    return path


def _compare_command(demo: Demo, out: Path) -> list[str]:
    return homeport_command(
        "--config", str(_write_compare_config(demo)), "compare", str(demo.bundle_dir),
        "--base-url", demo.homeport.base_url, "--api-key", demo.homeport.api_key,
        "--baseline-url", demo.managed.base_url, "--baseline-key", demo.managed.api_key,
        "--agent", SUPPORT_AGENT, "--limit", str(COMPARE_CONVERSATIONS),
        "--max-output-tokens", str(COMPARE_MAX_TOKENS),
        "--record", ROLLOUT, "--out", str(out), "--json",
    )  # fmt: skip


def compare_recorded(demo: Demo) -> str:
    """``homeport compare``: recorded conversations replayed on both sides, turn by turn; the
    managed side twice, for the noise floor the rollout's equivalence gate subtracts."""
    out = demo.workdir / "compare"
    with demo.console.status(f"homeport compare: {COMPARE_CONVERSATIONS} recorded conversations"):
        done = subprocess.run(
            _compare_command(demo, out), capture_output=True, timeout=COMPARE_SECONDS, check=False
        )
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines() or ["(no output)"]
        raise DemoFailed(f"homeport compare exited with {done.returncode}: {lines[-1]}")
    report: dict[str, Any] = orjson.loads(done.stdout)
    lines = []
    for agent in report["agents"]:
        noise = agent["noise"]["rate"] if agent["noise"] else None
        beyond = agent["beyond_noise"]["status"] if agent["beyond_noise"] else "n/a"
        line = (
            f"{agent['agent_name'] or agent['agent_id']}: {agent['equivalent']}/{agent['turns']} "
            f"turns equivalent"
            + (f", noise floor {noise:.0%}" if noise is not None else "")
            + f", beyond noise: {beyond}"
        )
        demo.say(line)
        lines.append(line)
    demo.results["compare"] = {
        "agents": report["agents"],
        "recorded": report.get("recorded"),
        "out": str(out),
    }
    return f"{'; '.join(lines)}; report in {out}"
