"""What the inventory means for the migration: how each tool maps, what to replace, the risks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeport.audit.inventory import Inventory, tool_kind
from homeport.config import Settings

# Tool kind -> (what homeport does with it, whether work is needed before cutover).
TOOL_MAPPING: dict[str, tuple[str, bool]] = {
    "function": ("Same: function tools work unchanged (requires_action / function_call).", False),
    "file_search": ("Local vector store: files re-parsed and re-embedded on import.", False),
    "code_interpreter": (
        "Rebuild: homeport has no hosted sandbox. Offer a function tool backed by your own "
        "sandboxed executor, or drop the tool.",
        True,
    ),
    "function:lambda": (
        "Rebuild: the Lambda executor becomes a function tool; your app (or a small worker) "
        "calls the Lambda when the run asks for it.",
        True,
    ),
    "function:return_control": (
        "Same: Bedrock return-of-control maps to function tools the client answers.",
        False,
    ),
    "openapi": (
        "Rebuild: each OpenAPI operation becomes a function tool (schemas kept); the HTTP call "
        "moves into your app.",
        True,
    ),
    "web_search": ("Rebuild: no hosted web search; expose a function tool to your search.", True),
}

CHECKLIST: list[tuple[str, str]] = [
    (
        "Authentication",
        "Replace the platform's API keys with homeport keys ('homeport keys create'); clients only "
        "change base_url and key.",
    ),
    (
        "Monitoring",
        "Scrape homeport's Prometheus /metrics (requests, run statuses, queue depth, model "
        "latency, time to first token, tokens by model) instead of the platform's dashboards.",
    ),
    (
        "Tool-calling conventions",
        "Function tools keep OpenAI's requires_action / submit_tool_outputs flow; "
        "platform-executed tools (Lambda, OpenAPI, code interpreter) move into your own services.",
    ),
    (
        "Managed vector stores",
        "Knowledge is re-embedded locally (all-MiniLM-L6-v2 on ONNX by default); retrieval scores "
        "differ from the platform's, so check answers with 'homeport compare'.",
    ),
    (
        "Memory",
        "Platform memory (Bedrock AgentCore Memory) is exported as memory events; feed them to the "
        "agent as conversation context or your own memory service.",
    ),
    (
        "Rate limiting and usage tracking",
        "Token usage is recorded per run and exported as metrics per model; put quotas in front of "
        "homeport (the gateway or your API gateway).",
    ),
    (
        "Model access",
        "Route every model name the agents use ([[models]] in homeport.toml) to a managed API "
        "(hybrid) or a local server (vLLM, Ollama, llama.cpp).",
    ),
    (
        "Stored IDs",
        "Imported assistants, threads, messages and runs keep their IDs, so IDs in your "
        "database keep working.",
    ),
]


@dataclass
class Risk:
    level: str  # "high" | "medium" | "low"
    title: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"level": self.level, "title": self.title, "detail": self.detail}


def tool_rows(inv: Inventory) -> list[dict[str, Any]]:
    rows = []
    for agent in inv.agents.values():
        for tool in agent.tools:
            kind = tool_kind(tool)
            mapping, work = TOOL_MAPPING.get(kind, ("Unknown tool type: review by hand.", True))
            function = tool.get("function")
            fn: dict[str, Any] = function if isinstance(function, dict) else {}
            rows.append(
                {
                    "agent": agent.name or agent.id,
                    "kind": kind,
                    "name": tool.get("name") or fn.get("name") or kind,
                    "mapping": mapping,
                    "needs_work": work,
                }
            )
    return rows


def risks(inv: Inventory, settings: Settings | None = None) -> list[Risk]:
    found: list[Risk] = []
    kinds = {row["kind"] for row in tool_rows(inv) if row["needs_work"]}
    if kinds:
        found.append(
            Risk(
                "high",
                "Tools that must be rebuilt",
                f"Tool types without a drop-in equivalent: {', '.join(sorted(kinds))}.",
            )
        )
    if inv.files_without_bytes:
        names = ", ".join(inv.files_without_bytes[:5])
        found.append(
            Risk(
                "medium",
                "Files without their bytes",
                f"{len(inv.files_without_bytes)} file(s) could not be downloaded "
                f"({names}); stores use the platform's parsed text where it was "
                "available.",
            )
        )
    missing = [a for a in inv.agents.values() if not a.present]
    if missing or inv.conversations_without_agent:
        found.append(
            Risk(
                "medium",
                "Conversations whose agent is gone",
                f"{len(missing)} agent(s) referenced by runs are not in the export; "
                "their conversations import, but cannot be continued with that agent.",
            )
        )
    for agent in inv.agents.values():
        rf = agent.response_format
        if isinstance(rf, dict) and rf.get("type") == "json_schema":
            found.append(
                Risk(
                    "medium",
                    f"Structured output: {agent.name or agent.id}",
                    "The agent relies on json_schema output; the target model must "
                    "honour it (check with 'homeport compare', structural comparator).",
                )
            )
    if settings is not None:
        unrouted = sorted(
            {a.model for a in inv.agents.values() if a.model and settings.route(a.model) is None}
        )
        if unrouted:
            found.append(
                Risk(
                    "high",
                    "Models without a route",
                    f"No [[models]] route for: {', '.join(unrouted)}.",
                )
            )
    if inv.longest_message_chars > 32_000:
        found.append(
            Risk(
                "low",
                "Very long messages",
                f"The longest message has {inv.longest_message_chars:,} characters; "
                "small local models may need truncation.",
            )
        )
    failed = sum(
        a.runs_by_status.get(s, 0) for a in inv.agents.values() for s in ("failed", "expired")
    )
    total = sum(sum(a.runs_by_status.values()) for a in inv.agents.values())
    if total and failed / total > 0.02:
        found.append(
            Risk(
                "low",
                "Failed and expired runs on the platform",
                f"{failed} of {total} runs ({failed / total:.1%}) did not complete: "
                "the baseline is not perfect either.",
            )
        )
    return found


def plan(inv: Inventory) -> list[dict[str, str]]:
    """The migration's steps, each a command."""
    models = {a.model for a in inv.agents.values() if a.model}
    return [
        {
            "step": "Export",
            "command": "homeport export SOURCE BUNDLE",
            "why": "Take every object out (done if you are reading this).",
        },
        {
            "step": "Route models",
            "command": "edit [[models]] in homeport.toml",
            "why": f"{len(models)} model name(s) in use: {', '.join(sorted(models))}.",
        },
        {
            "step": "Import",
            "command": "homeport import BUNDLE",
            "why": "Same IDs; files re-embedded locally.",
        },
        {
            "step": "Reconcile",
            "command": "homeport reconcile BUNDLE",
            "why": "Prove nothing was lost or changed.",
        },
        {
            "step": "Compare",
            "command": "homeport compare BUNDLE",
            "why": "Replay recorded turns; equivalence beyond the baseline's own noise.",
        },
        {
            "step": "Shadow",
            "command": "homeport gateway --config gateway.toml (mode shadow)",
            "why": "Real traffic mirrored, users see only the platform's answers.",
        },
        {
            "step": "Canary",
            "command": "homeport rollout promote",
            "why": "5 → 10 → 25 → 50 → 100 % with gates and automatic rollback.",
        },
    ]
