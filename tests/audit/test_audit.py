"""The audit of the sample deployment: every agent, tool mapping, risk and figure a lead needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from homeport.audit import build_report, render_markdown, write_report
from homeport.audit.cost import chunks_for
from homeport.bundle import open_bundle
from homeport.cli.main import app
from homeport.config import ModelRoute, Settings
from homeport.sample import generate
from homeport.sources.base import make_source, run_export


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audit")
    generate(root / "dump", threads=80)
    run_export(make_source("openai-objects", {"path": str(root / "dump")}), root / "bundle")
    return root / "bundle"


@pytest.fixture(scope="module")
def report(bundle_path: Path) -> dict[str, Any]:
    settings = Settings(models=[ModelRoute(name="gpt-4o"), ModelRoute(name="gpt-4o-mini")])
    with open_bundle(bundle_path) as bundle:
        return build_report(bundle, settings=settings)


def test_every_agent_with_prompt_model_and_parameters(report: dict[str, Any]) -> None:
    agents = {a["name"]: a for a in report["agents"] if a["present_in_export"]}
    assert set(agents) == {"Lumen Support", "Order Status", "Ticket Triage"}
    support = agents["Lumen Support"]
    assert support["model"] == "gpt-4o"
    assert support["temperature"] == 0.3
    assert "file_search" in support["instructions"]
    assert support["conversations"] > 0 and support["messages"] > support["conversations"]
    assert support["prompt_tokens"] > 0
    assert all(m.count("-") == 1 for m in support["tokens_by_month"])
    assert agents["Order Status"]["tool_calls"]["get_order_status"] > 0


def test_tools_map_to_homeport(report: dict[str, Any]) -> None:
    kinds = {(t["name"], t["kind"], t["needs_work"]) for t in report["tools"]}
    assert ("get_order_status", "function", False) in kinds
    assert any(kind == "file_search" and not work for _, kind, work in kinds)


def test_risks_name_what_needs_attention(report: dict[str, Any]) -> None:
    titles = {r["title"] for r in report["risks"]}
    assert "Files without their bytes" in titles
    assert "Conversations whose agent is gone" in titles
    assert "Structured output: Ticket Triage" in titles
    unrouted = next(r for r in report["risks"] if r["title"] == "Models without a route")
    assert "gpt-4.1-mini" in unrouted["detail"] and "gpt-4o-mini" not in unrouted["detail"]


def test_cost_and_reembedding(report: dict[str, Any]) -> None:
    cost = report["cost"]
    assert cost["knowledge_bytes"] > 4_000
    assert cost["chunks"] == chunks_for(cost["knowledge_tokens"])
    assert cost["reembed_seconds"] > 0
    assert cost["managed_inference_usd_per_month"] > 0
    assert set(cost["by_model"]) >= {"gpt-4o", "gpt-4o-mini", "gpt-4.1-mini"}


def test_chunk_count_follows_openai_auto_strategy() -> None:
    assert chunks_for(0) == 0
    assert chunks_for(500) == 1
    assert chunks_for(800) == 1
    assert chunks_for(1_200) == 2
    assert chunks_for(4_400) == 10


def test_markdown_has_checklist_and_plan(report: dict[str, Any]) -> None:
    text = render_markdown(report)
    assert "- [ ] **Authentication**" in text
    assert "`homeport import BUNDLE`" in text
    assert "Lumen Support" in text


def test_cli_writes_three_formats(bundle_path: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["audit", str(bundle_path), "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["agents"] == 3
    html = (tmp_path / "audit.html").read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html
    assert (tmp_path / "audit.md").read_text().startswith("# Migration audit")


def test_cli_names_a_missing_bundle(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["audit", str(tmp_path / "nope")])
    assert result.exit_code != 0


def test_html_report_renders_in_a_browser(bundle_path: Path, tmp_path: Path) -> None:
    from tests.support.browser import render

    with open_bundle(bundle_path) as bundle:
        write_report(build_report(bundle), tmp_path)
    page = render(tmp_path / "audit.html")
    assert page.dom.count("<svg") >= 3
    for name in ("Lumen Support", "Order Status", "Ticket Triage", "Plan", "Risks"):
        assert name in page.dom
    assert page.png.startswith(b"\x89PNG") and len(page.png) > 20_000
