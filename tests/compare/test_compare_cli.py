"""``homeport compare`` end to end: a recorded bundle replayed against a live homeport whose
model is the scripted model, with the noise floor from a second run or from the managed side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from homeport.bundle import open_bundle
from homeport.cli.main import app
from homeport.compare.offline import read_results
from homeport.compare.records import tally
from homeport.compare.transcripts import BundleRecords, load_transcripts
from homeport.store.db import Database
from homeport.testing.scripted_model import ScriptedModelOptions, ScriptedModelServer
from tests.support.servers import HomeportServer

LIMIT = 4


def run_compare(args: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["compare", *args, "--json"])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = orjson.loads(result.stdout)
    return report


def candidate(bundle: Path, homeport: HomeportServer) -> list[str]:
    """Arguments replaying ``bundle`` against ``homeport`` (its scripted model)."""
    return [
        str(bundle),
        "--base-url",
        homeport.base_url,
        "--api-key",
        homeport.api_key,
        "--model",
        "scripted",
    ]


def exchanges_in(bundle: Path) -> int:
    with open_bundle(bundle) as reader:
        return sum(len(t.exchanges) for t in load_transcripts(BundleRecords(reader), limit=LIMIT))


@pytest.mark.slow
def test_compare_against_live_homeport_with_candidate_noise(
    sample_bundle: Path,
    homeport: HomeportServer,
    scripted_model: ScriptedModelServer,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOMEPORT_DATABASE_URL", database_url)
    out = tmp_path / "report"
    args = [
        *candidate(sample_bundle, homeport),
        "--limit",
        str(LIMIT),
        "--out",
        str(out),
        "--record",
        "gw",
    ]
    report = run_compare(args)
    turns = exchanges_in(sample_bundle)
    assert report["turns"] == turns
    assert "embedding" in report["comparators"]
    for agent in report["agents"]:
        low, high = agent["equivalence_interval"]
        assert low <= agent["equivalence_rate"] <= high
        # The scripted model is deterministic: it never disagrees with itself.
        assert agent["noise"]["source"] == "candidate"
        assert agent["noise"]["rate"] == 0.0
        # It echoes instead of answering from the manual: far from the recorded answers.
        assert agent["beyond_noise"]["estimate"] > 0.5
        assert agent["beyond_noise"]["status"] in ("fail", "marginal")
        assert agent["worst"] and agent["worst"][0]["candidate"].startswith("Echo:")
        assert agent["candidate"]["latency_p95_s"] is not None
        assert agent["baseline"]["input_tokens"] > 0 and agent["candidate"]["input_tokens"] > 0
    html = (out / "report.html").read_text()
    assert "<svg" in html and "Worst differences" in html
    assert "src=" not in html and "href=" not in html  # nothing fetched from the network
    assert "| turn | question |" in (out / "report.md").read_text()
    db = Database(database_url)
    try:
        assert tally(db, kind="noise", rollout_id="gw").pairs == turns
    finally:
        db.dispose()
    # Resumable: a second run replays nothing and reports the same.
    received = len(scripted_model.model.requests)
    again = run_compare(args[:-2])
    assert len(scripted_model.model.requests) == received
    assert again["turns"] == turns and len(read_results(out)) == turns


@pytest.mark.slow
def test_compare_with_the_managed_side_reachable(
    sample_bundle: Path,
    homeport: HomeportServer,
    tmp_path: Path,
) -> None:
    managed = ScriptedModelServer(ScriptedModelOptions(style="shout", persona="managed"))
    with managed:
        report = run_compare(
            [
                *candidate(sample_bundle, homeport),
                "--baseline-url",
                managed.base_url,
                "--baseline-key",
                "k",
                "--baseline-protocol",
                "chat",
                "--agent",
                "Lumen Support",
                "--limit",
                "2",
                "--out",
                str(tmp_path / "r"),
            ]
        )
    (agent,) = report["agents"]
    assert agent["agent_name"] == "Lumen Support"
    assert agent["noise"]["source"] == "baseline" and agent["noise"]["rate"] == 0.0
    rows = read_results(tmp_path / "r")
    assert all(row["baseline"]["text"].startswith("[managed]") for row in rows)
    assert all(row["judgement"]["decided_by"] is not None for row in rows)


def test_compare_fails_with_a_one_line_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "missing"), "--api-key", "k"])
    assert result.exit_code != 0
