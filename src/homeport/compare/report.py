"""The equivalence report per agent, from scored exchanges: JSON, Markdown and HTML.

Per agent: the equivalence rate with its Wilson interval, the noise floor, the disagreement beyond
noise (Newcombe interval, one-sided test against delta), which comparator decided, the worst
differences side by side, and latency and token cost on each side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

import orjson

from homeport.compare.stats import excess_disagreement, quantile, wilson_interval
from homeport.compare.svg import Bar, bar_chart, page

WORST = 10


def _side(rows: list[dict[str, Any]], side: str) -> dict[str, Any]:
    answers = [r[side] for r in rows]
    latency = [a["latency_s"] for a in answers if a.get("latency_s") is not None]
    ttft = [a["ttft_s"] for a in answers if a.get("ttft_s") is not None]
    tokens_in = [a["input_tokens"] for a in answers if a.get("input_tokens") is not None]
    tokens_out = [a["output_tokens"] for a in answers if a.get("output_tokens") is not None]
    return {
        "errors": sum(1 for a in answers if a.get("error")),
        "latency_p50_s": quantile(latency, 0.5) if latency else None,
        "latency_p95_s": quantile(latency, 0.95) if latency else None,
        "ttft_p50_s": quantile(ttft, 0.5) if ttft else None,
        "ttft_p95_s": quantile(ttft, 0.95) if ttft else None,
        "input_tokens": sum(tokens_in),
        "output_tokens": sum(tokens_out),
        "tokens_per_turn": (sum(tokens_in) + sum(tokens_out)) / len(tokens_in)
        if tokens_in
        else None,
    }


def _difference(row: dict[str, Any]) -> dict[str, Any]:
    verdicts = row["judgement"]["verdicts"]
    last = verdicts[-1] if verdicts else {}
    return {
        "key": row["key"],
        "question": row["question"],
        "baseline": shown_answer(row["baseline"]),
        "candidate": shown_answer(row["candidate"]),
        "outcome": row["judgement"]["outcome"],
        "decided_by": row["judgement"]["decided_by"],
        "detail": last.get("detail", ""),
        "score": last.get("score"),
    }


def shown_answer(answer: dict[str, Any]) -> str:
    if answer.get("error"):
        return f"[error: {answer['error']}]"
    calls = " ".join(f"{c['name']}({c['arguments']})" for c in answer.get("tool_calls") or ())
    return " ".join(p for p in (answer.get("text") or "", calls) if p)


def agent_report(rows: list[dict[str, Any]], *, delta: float, confidence: float) -> dict[str, Any]:
    n = len(rows)
    same = sum(1 for r in rows if r["judgement"]["outcome"] == "same")
    low, high = wilson_interval(same, n)
    noise_rows = [r for r in rows if r.get("noise")]
    noise_n = len(noise_rows)
    noise_diff = sum(1 for r in noise_rows if r["noise"]["outcome"] != "same")
    out: dict[str, Any] = {
        "agent_id": rows[0]["agent_id"],
        "agent_name": rows[0]["agent_name"],
        "turns": n,
        "conversations": len({r["conversation_id"] for r in rows}),
        "equivalent": same,
        "equivalence_rate": same / n if n else None,
        "equivalence_interval": [low, high],
        "noise": None,
        "beyond_noise": None,
        "decided_by": dict(Counter(r["judgement"]["decided_by"] or "unsure" for r in rows)),
        "baseline": _side(rows, "baseline"),
        "candidate": _side(rows, "candidate"),
    }
    if noise_n:
        nlow, nhigh = wilson_interval(noise_diff, noise_n)
        out["noise"] = {
            "source": noise_rows[0]["noise_source"],
            "turns": noise_n,
            "disagreements": noise_diff,
            "rate": noise_diff / noise_n,
            "interval": [nlow, nhigh],
        }
        excess = excess_disagreement(
            n - same, n, noise_diff, noise_n, delta=delta, confidence=confidence
        )
        out["beyond_noise"] = {
            "estimate": excess.difference.estimate,
            "low": excess.difference.low,
            "high": excess.difference.high,
            "delta": delta,
            "status": excess.status,
        }
    different = [r for r in rows if r["judgement"]["outcome"] != "same"]
    different.sort(key=lambda r: (r["judgement"]["outcome"] != "different", _score(r)))
    out["worst"] = [_difference(r) for r in different[:WORST]]
    return out


def _score(row: dict[str, Any]) -> float:
    verdicts = row["judgement"]["verdicts"]
    score = verdicts[-1].get("score") if verdicts else None
    return 0.0 if score is None else float(score)


def build_report(
    rows: Iterable[dict[str, Any]], *, delta: float = 0.03, confidence: float = 0.95
) -> dict[str, Any]:
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_agent.setdefault(row["agent_id"], []).append(row)
    agents = [agent_report(r, delta=delta, confidence=confidence) for r in by_agent.values()]
    total = sum(a["turns"] for a in agents)
    same = sum(a["equivalent"] for a in agents)
    return {
        "turns": total,
        "equivalent": same,
        "equivalence_rate": same / total if total else None,
        "agents": agents,
    }


# -- rendering -----------------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _secs(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}s"


def _summary_lines(agent: dict[str, Any]) -> list[tuple[str, str]]:
    low, high = agent["equivalence_interval"]
    lines = [
        ("turns / conversations", f"{agent['turns']} / {agent['conversations']}"),
        ("equivalence", f"{_pct(agent['equivalence_rate'])} (95% Wilson {_pct(low)}-{_pct(high)})"),
    ]
    noise, beyond = agent["noise"], agent["beyond_noise"]
    if noise:
        lines.append(
            (
                "noise floor",
                f"{_pct(noise['rate'])} disagreement, "
                f"{noise['source']} against itself ({noise['turns']} turns)",
            )
        )
    if beyond:
        lines.append(
            (
                "beyond noise",
                f"{beyond['estimate'] * 100:+.1f} pp "
                f"({beyond['low'] * 100:+.1f} to {beyond['high'] * 100:+.1f})"
                f" vs delta {beyond['delta'] * 100:.1f} pp: "
                f"{beyond['status']}",
            )
        )
    lines.append(("decided by", ", ".join(f"{k} {v}" for k, v in agent["decided_by"].items())))
    return lines


def _cost_rows(agent: dict[str, Any]) -> list[tuple[str, str, str]]:
    base, cand = agent["baseline"], agent["candidate"]
    return [
        ("errors", str(base["errors"]), str(cand["errors"])),
        ("latency p50", _secs(base["latency_p50_s"]), _secs(cand["latency_p50_s"])),
        ("latency p95", _secs(base["latency_p95_s"]), _secs(cand["latency_p95_s"])),
        ("time to first token p95", _secs(base["ttft_p95_s"]), _secs(cand["ttft_p95_s"])),
        ("input tokens", str(base["input_tokens"]), str(cand["input_tokens"])),
        ("output tokens", str(base["output_tokens"]), str(cand["output_tokens"])),
    ]


def render_markdown(report: dict[str, Any]) -> str:
    out = [
        "# Equivalence report",
        "",
        f"{report['turns']} turns, {_pct(report['equivalence_rate'])} equivalent.",
        "",
    ]
    for agent in report["agents"]:
        out += [f"## {agent['agent_name'] or agent['agent_id']}", ""]
        out += [f"- **{k}**: {v}" for k, v in _summary_lines(agent)]
        out += ["", "| | baseline | candidate |", "| --- | --- | --- |"]
        out += [f"| {a} | {b} | {c} |" for a, b, c in _cost_rows(agent)]
        if agent["worst"]:
            out += [
                "",
                "### Worst differences",
                "",
                "| turn | question | baseline | candidate | why |",
                "| --- | --- | --- | --- | --- |",
            ]
            for d in agent["worst"]:
                cells = [
                    d["key"],
                    d["question"],
                    d["baseline"],
                    d["candidate"],
                    f"{d['decided_by'] or 'unsure'}: {d['detail']}",
                ]
                out.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        out.append("")
    return "\n".join(out)


def _md_cell(text: str, limit: int = 160) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_html(report: dict[str, Any]) -> str:
    bars = [
        Bar(
            a["agent_name"] or a["agent_id"],
            a["equivalence_rate"] or 0.0,
            *a["equivalence_interval"],
        )
        for a in report["agents"]
    ]
    body = [
        f"<h1>Equivalence report</h1><p>{report['turns']} turns, "
        f"{_pct(report['equivalence_rate'])} equivalent.</p>",
        bar_chart(bars, title="Equivalence rate (95% Wilson interval)", maximum=1.0, unit="%"),
    ]
    for agent in report["agents"]:
        body.append(f"<h2>{escape(agent['agent_name'] or agent['agent_id'])}</h2><dl>")
        body += [f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in _summary_lines(agent)]
        body.append("</dl><table><tr><th></th><th>baseline</th><th>candidate</th></tr>")
        body += [
            f"<tr><td>{escape(a)}</td><td>{escape(b)}</td><td>{escape(c)}</td></tr>"
            for a, b, c in _cost_rows(agent)
        ]
        body.append("</table>")
        base, cand = agent["baseline"], agent["candidate"]
        latency = [
            Bar(f"{side} {q}", value)
            for side, data in (("baseline", base), ("candidate", cand))
            for q, value in (("p50", data["latency_p50_s"]), ("p95", data["latency_p95_s"]))
            if value is not None
        ]
        if latency:
            body.append(bar_chart(latency, title="Latency", unit="s"))
        if agent["worst"]:
            body.append(
                "<h3>Worst differences</h3><table class=diff><tr><th>question</th>"
                "<th>baseline</th><th>candidate</th><th>why</th></tr>"
            )
            for d in agent["worst"]:
                why = f"{d['decided_by'] or 'unsure'}: {d['detail']}"
                body.append(
                    "<tr>"
                    + "".join(
                        f"<td>{escape(c)}</td>"
                        for c in (d["question"], d["baseline"], d["candidate"], why)
                    )
                    + "</tr>"
                )
            body.append("</table>")
    return page("homeport equivalence report", "".join(body))


def write_report(report: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "report.json": orjson.dumps(report, option=orjson.OPT_INDENT_2).decode(),
        "report.md": render_markdown(report),
        "report.html": render_html(report),
    }
    written = []
    for name, text in paths.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
