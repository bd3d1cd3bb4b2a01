"""``homeport rollout`` commands, the routing seam the gateway reads, gauges and the step report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.gateway.seams import STORE_ROUTING_FACTORY, Mode
from homeport.rollout.metrics import RolloutCollector
from homeport.rollout.report import render_rollout_html
from homeport.store.db import Database
from tests.rollout.conftest import Gateway, healthy_minute, make_controller


def rollout(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["rollout", *args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = orjson.loads(result.stdout)
    return data


@pytest.fixture
def cli_db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HOMEPORT_DATABASE_URL", database_url)
    return database_url


def test_status_promote_pause_resume_rollback(cli_db: str) -> None:
    assert rollout("status")["status"] == "idle"
    started = rollout("promote", "--reason", "offline compare passed", "--actor", "alice")
    assert (started["action"], started["phase_after"], started["actor"]) == (
        "start",
        "shadow",
        "alice",
    )
    assert rollout("pause", "--reason", "holiday")["action"] == "pause"
    status = rollout("status")
    assert (status["status"], status["reason"]) == ("paused", "holiday")
    assert rollout("resume")["action"] == "resume"
    promoted = rollout("promote", "-g", "default")
    assert (promoted["phase_after"], promoted["weight_after"]) == ("canary-5", 0.05)
    rolled = rollout("rollback", "--reason", "latency")
    assert rolled["weight_after"] == 0.0 and "latency" in rolled["reason"]
    status = rollout("status")
    assert status["status"] == "rolled_back"
    assert [d["action"] for d in status["decisions"]] == [
        "start",
        "pause",
        "resume",
        "promote",
        "rollback",
    ]
    # Acting on a rollout in the wrong state: one line, non-zero exit.
    result = CliRunner().invoke(app, ["rollout", "pause"])
    assert result.exit_code != 0


def test_status_renders_in_the_terminal(cli_db: str) -> None:
    rollout("promote")
    result = CliRunner().invoke(app, ["rollout", "status"])
    assert result.exit_code == 0
    assert "shadow" in result.output and "recent decisions" in result.output


def test_routing_seam_gauges_and_report(
    db: Database, clock: Any, gateway: Gateway, tmp_path: Path
) -> None:
    module, _, name = STORE_ROUTING_FACTORY.partition(":")
    factory = getattr(__import__(module, fromlist=[name]), name)
    source = factory(db, "default")
    assert source.read() is None
    controller = make_controller(db, clock)
    gateway.noise_floor("default")
    controller.promote("alice")
    for _ in range(8):
        healthy_minute(gateway, controller)
    state = source.read()
    assert state is not None and state.mode is Mode.CANARY and state.weight == 0.05
    registry = CollectorRegistry()
    registry.register(RolloutCollector(db, "default"))
    text = generate_latest(registry).decode()
    assert 'homeport_rollout_weight{rollout="default"} 0.05' in text
    assert 'homeport_rollout_phase{phase="canary-5",rollout="default",status="running"} 1.0' in text
    assert 'homeport_rollout_noise_disagreement{rollout="default"} 0.05' in text
    assert 'homeport_rollout_equivalence{rollout="default"} 1.0' in text
    html = render_rollout_html(db, "default")
    assert "<h2>shadow</h2>" in html and "<svg" in html and "gates pass" in html
