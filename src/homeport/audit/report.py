"""The audit report: built once as data, rendered as JSON, Markdown and self-contained HTML."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from homeport import __version__
from homeport.audit.cost import CostAssumptions, estimate
from homeport.audit.findings import CHECKLIST, plan, risks, tool_rows
from homeport.audit.inventory import take_inventory
from homeport.bundle import BundleReader
from homeport.compare.svg import Bar, bar_chart
from homeport.config import Settings


def build_report(
    bundle: BundleReader,
    *,
    settings: Settings | None = None,
    assumptions: CostAssumptions | None = None,
) -> dict[str, Any]:
    inv = take_inventory(bundle)
    return {
        "homeport_version": __version__,
        "source": inv.source,
        "bundle_complete": bundle.manifest.complete,
        "counts": inv.counts,
        "agents": [a.as_dict() for a in inv.agents.values()],
        "tools": tool_rows(inv),
        "knowledge": {
            "vector_stores": [s.as_dict() for s in inv.stores.values()],
            "file_bytes": inv.file_bytes,
            "files_without_bytes": inv.files_without_bytes,
        },
        "volumes": {
            "conversations": inv.counts.get("conversations", 0),
            "messages": sum(a.messages for a in inv.agents.values()),
            "message_characters": inv.text_chars,
            "longest_message_characters": inv.longest_message_chars,
            "memories": inv.memories,
        },
        "checklist": [
            {"area": area, "action": action, "done": False} for area, action in CHECKLIST
        ],
        "risks": [r.as_dict() for r in risks(inv, settings)],
        "plan": plan(inv),
        "cost": estimate(inv, assumptions).as_dict(),
    }


# -- Markdown -------------------------------------------------------------------------------------


def _cell(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Migration audit",
        "",
        f"Source: `{_cell(report['source'])}`. Bundle complete: "
        f"{'yes' if report['bundle_complete'] else 'NO (export was interrupted)'}.",
        "",
        "## Inventory",
        "",
    ]
    lines += _table(["part", "records"], [[k, v] for k, v in report["counts"].items()])
    lines += ["", "## Agents", ""]
    lines += _table(
        [
            "agent",
            "model",
            "temperature",
            "tools",
            "conversations",
            "messages",
            "tokens in/out",
            "runs by status",
        ],
        [
            [
                a["name"] or a["id"],
                a["model"],
                a["temperature"],
                len(a["tools"]),
                a["conversations"],
                a["messages"],
                f"{a['prompt_tokens']:,} / {a['completion_tokens']:,}",
                a["runs_by_status"],
            ]
            for a in report["agents"]
        ],
    )
    for agent in report["agents"]:
        lines += ["", f"### {agent['name'] or agent['id']} (`{agent['id']}`)", ""]
        if not agent["present_in_export"]:
            lines.append("Not in the export (deleted on the platform); seen only in runs.")
        lines += [
            f"- model: `{agent['model']}`, temperature {agent['temperature']}, "
            f"top_p {agent['top_p']}",
            f"- response_format: `{_cell(agent['response_format'])}`",
            f"- system prompt: {_cell(agent['instructions'] or '(none)', 600)}",
        ]
        months = agent["tokens_by_month"]
        if months:
            lines += [
                "",
                *_table(
                    ["month", "messages", "prompt tokens", "completion tokens"],
                    [
                        [m, agent["messages_by_month"].get(m, 0), t["prompt"], t["completion"]]
                        for m, t in months.items()
                    ],
                ),
            ]
    lines += ["", "## Tools and how they map", ""]
    lines += _table(
        ["agent", "tool", "type", "on homeport", "work needed"],
        [
            [t["agent"], t["name"], t["kind"], t["mapping"], "yes" if t["needs_work"] else "no"]
            for t in report["tools"]
        ],
    )
    lines += ["", "## Knowledge", ""]
    lines += _table(
        ["vector store", "files", "bytes", "files without bytes"],
        [
            [s["name"] or s["id"], s["files"], s["bytes"], s["files_without_bytes"]]
            for s in report["knowledge"]["vector_stores"]
        ],
    )
    lines += ["", "## Platform dependencies to replace", ""]
    lines += [f"- [ ] **{c['area']}**: {c['action']}" for c in report["checklist"]]
    lines += ["", "## Risks", ""]
    lines += [f"- **{r['level']}**: {r['title']}. {r['detail']}" for r in report["risks"]] or [
        "None found."
    ]
    cost = report["cost"]
    lines += [
        "",
        "## Re-embedding and cost",
        "",
        f"- knowledge: {cost['knowledge_bytes']:,} bytes, about "
        f"{cost['knowledge_tokens']:,} tokens, {cost['chunks']:,} chunks",
        f"- local re-embedding: about {cost['reembed_seconds']:,} s at "
        f"{cost['assumptions']['local_chunks_per_second']} chunks/s, no fee "
        f"(managed embedding would cost ${cost['managed_embedding_usd']:.4f})",
        f"- managed inference: ${cost['managed_inference_usd_per_month']:,.2f} per month "
        f"over {cost['months']} month(s) of history; self-hosted: "
        f"${cost['self_hosted_usd_per_month']:,.2f} per month (your figure)",
        "",
    ]
    lines += _table(
        ["model", "prompt tokens", "completion tokens", "USD (whole history)"],
        [
            [m, r["prompt_tokens"], r["completion_tokens"], r["usd"]]
            for m, r in cost["by_model"].items()
        ],
    )
    lines += ["", "## Plan", ""]
    lines += [
        f"{n}. **{p['step']}**: `{p['command']}`: {p['why']}"
        for n, p in enumerate(report["plan"], 1)
    ]
    return "\n".join(lines) + "\n"


# -- HTML -----------------------------------------------------------------------------------------


def _charts(report: dict[str, Any]) -> list[str]:
    agents = report["agents"]
    charts = [
        bar_chart(
            [Bar(a["name"] or a["id"], a["messages"]) for a in agents], title="Messages per agent"
        )
    ]
    months = sorted({m for a in agents for m in a["messages_by_month"]})
    if months:
        charts.append(
            bar_chart(
                [Bar(m, sum(a["messages_by_month"].get(m, 0) for a in agents)) for m in months],
                title="Messages per month",
            )
        )
    statuses = sorted({s for a in agents for s in a["runs_by_status"]})
    if statuses:
        charts.append(
            bar_chart(
                [Bar(s, sum(a["runs_by_status"].get(s, 0) for a in agents)) for s in statuses],
                title="Runs by status",
            )
        )
    by_model = report["cost"]["by_model"]
    if by_model:
        charts.append(
            bar_chart(
                [Bar(m, r["usd"]) for m, r in by_model.items()],
                title="Managed inference cost by model (USD, whole history)",
            )
        )
    return charts


def _html_table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(v, 400))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict[str, Any]) -> str:
    agents = report["agents"]
    sections = [
        "<h1>Migration audit</h1>",
        f"<p>Source: <code>{escape(_cell(report['source']))}</code></p>",
        "<div class=charts>" + "".join(_charts(report)) + "</div>",
        "<h2>Agents</h2>",
    ]
    for a in agents:
        sections.append(
            f"<h3>{escape(a['name'] or a['id'])} <small><code>{escape(a['id'])}</code></small>"
            "</h3>"
            + ("" if a["present_in_export"] else "<p class=warn>Not in the export.</p>")
            + _html_table(
                [
                    "model",
                    "temperature",
                    "top_p",
                    "response_format",
                    "conversations",
                    "messages",
                    "tokens in",
                    "tokens out",
                ],
                [
                    [
                        a["model"],
                        a["temperature"],
                        a["top_p"],
                        a["response_format"],
                        a["conversations"],
                        a["messages"],
                        a["prompt_tokens"],
                        a["completion_tokens"],
                    ]
                ],
            )
            + f"<details><summary>System prompt</summary><pre>"
            f"{escape(a['instructions'] or '(none)')}</pre></details>"
        )
    sections += [
        "<h2>Tools and how they map</h2>",
        _html_table(
            ["agent", "tool", "type", "on homeport", "work needed"],
            [
                [t["agent"], t["name"], t["kind"], t["mapping"], "yes" if t["needs_work"] else "no"]
                for t in report["tools"]
            ],
        ),
        "<h2>Knowledge</h2>",
        _html_table(
            ["vector store", "files", "bytes", "files without bytes"],
            [
                [s["name"] or s["id"], s["files"], s["bytes"], s["files_without_bytes"]]
                for s in report["knowledge"]["vector_stores"]
            ],
        ),
        "<h2>Platform dependencies to replace</h2><ul class=check>"
        + "".join(
            f"<li><input type=checkbox> <b>{escape(c['area'])}</b>: {escape(c['action'])}</li>"
            for c in report["checklist"]
        )
        + "</ul>",
        "<h2>Risks</h2><ul>"
        + "".join(
            f"<li class={escape(r['level'])}><b>{escape(r['level'])}</b> "
            f"{escape(r['title'])}: {escape(r['detail'])}</li>"
            for r in report["risks"]
        )
        + "</ul>",
        "<h2>Re-embedding and cost</h2>",
        _html_table(
            [
                "knowledge tokens",
                "chunks",
                "local re-embedding (s)",
                "managed inference per month (USD)",
            ],
            [
                [
                    report["cost"]["knowledge_tokens"],
                    report["cost"]["chunks"],
                    report["cost"]["reembed_seconds"],
                    report["cost"]["managed_inference_usd_per_month"],
                ]
            ],
        ),
        "<h2>Plan</h2><ol>"
        + "".join(
            f"<li><b>{escape(p['step'])}</b>: <code>{escape(p['command'])}</code>. "
            f"{escape(p['why'])}</li>"
            for p in report["plan"]
        )
        + "</ol>",
    ]
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
        "padding:0 1em}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
        ".charts svg{margin:0 1em 1em 0}.high{color:#b91c1c}.medium{color:#b45309}"
        ".warn{color:#b91c1c}pre{white-space:pre-wrap}"
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>homeport migration audit</title>"
        f"<style>{style}</style></head><body>" + "".join(sections) + "</body></html>"
    )


def write_report(report: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "audit.json", out_dir / "audit.md", out_dir / "audit.html"]
    paths[0].write_text(json.dumps(report, indent=2, ensure_ascii=False))
    paths[1].write_text(render_markdown(report))
    paths[2].write_text(render_html(report))
    return paths
