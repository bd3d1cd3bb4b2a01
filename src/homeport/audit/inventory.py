"""One streaming pass per part over a bundle, counting what the managed deployment holds.

Memory grows with the number of agents, months and vector stores, plus one ID pair per
conversation (which agent ran it); never with the number of messages.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from homeport.bundle import (
    FLAG_AGENT_MISSING,
    FLAG_BYTES_UNAVAILABLE,
    FLAG_PARSED_TEXT_ONLY,
    BundleReader,
    Record,
)


def month_of(timestamp: int | None) -> str:
    if not timestamp:
        return "unknown"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m")


def tool_kind(tool: dict[str, Any]) -> str:
    """The tool's type, with Bedrock executors told apart (they map differently)."""
    kind = str(tool.get("type", "unknown"))
    executor = tool.get("executor")
    if isinstance(executor, dict) and executor.get("kind") not in (None, "client", "platform"):
        return f"{kind}:{executor['kind']}"
    return kind


def _text_chars(content: Any) -> int:
    total = 0
    for part in content or []:
        if isinstance(part, dict):
            text = part.get("text")
            if isinstance(text, dict):
                total += len(str(text.get("value", "")))
            elif isinstance(text, str):
                total += len(text)
    return total


@dataclass
class AgentStats:
    id: str
    name: str | None = None
    model: str | None = None
    instructions: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    response_format: Any = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    vector_store_ids: list[str] = field(default_factory=list)
    present: bool = True
    conversations: int = 0
    messages: int = 0
    runs_by_status: Counter[str] = field(default_factory=Counter)
    tokens_by_month: dict[str, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    messages_by_month: Counter[str] = field(default_factory=Counter)
    tool_calls: Counter[str] = field(default_factory=Counter)

    @property
    def prompt_tokens(self) -> int:
        return sum(p for p, _ in self.tokens_by_month.values())

    @property
    def completion_tokens(self) -> int:
        return sum(c for _, c in self.tokens_by_month.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "present_in_export": self.present,
            "model": self.model,
            "instructions": self.instructions,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "response_format": self.response_format,
            "tools": self.tools,
            "vector_store_ids": self.vector_store_ids,
            "conversations": self.conversations,
            "messages": self.messages,
            "runs_by_status": dict(self.runs_by_status),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens_by_month": {
                m: {"prompt": p, "completion": c}
                for m, (p, c) in sorted(self.tokens_by_month.items())
            },
            "messages_by_month": dict(sorted(self.messages_by_month.items())),
            "tool_calls": dict(self.tool_calls),
        }


@dataclass
class StoreStats:
    id: str
    name: str | None
    files: int = 0
    bytes: int = 0
    files_without_bytes: int = 0
    parsed_text_only: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "files": self.files,
            "bytes": self.bytes,
            "files_without_bytes": self.files_without_bytes,
            "files_with_parsed_text_only": self.parsed_text_only,
        }


@dataclass
class Inventory:
    source: dict[str, Any]
    counts: dict[str, int]
    agents: dict[str, AgentStats] = field(default_factory=dict)
    stores: dict[str, StoreStats] = field(default_factory=dict)
    file_bytes: int = 0
    files_without_bytes: list[str] = field(default_factory=list)
    conversations_without_agent: int = 0
    longest_message_chars: int = 0
    text_chars: int = 0
    memories: int = 0

    def agent(self, agent_id: str | None) -> AgentStats | None:
        if not agent_id:
            return None
        stats = self.agents.get(agent_id)
        if stats is None:
            stats = self.agents[agent_id] = AgentStats(id=agent_id, present=False)
        return stats


def _read_agents(inv: Inventory, bundle: BundleReader) -> None:
    for rec in bundle.records("agents"):
        resources = rec.get("tool_resources") or {}
        store_ids = (resources.get("file_search") or {}).get("vector_store_ids") or []
        inv.agents[rec["id"]] = AgentStats(
            id=rec["id"],
            name=rec.get("name"),
            model=rec.get("model"),
            instructions=rec.get("instructions"),
            temperature=rec.get("temperature"),
            top_p=rec.get("top_p"),
            response_format=rec.get("response_format"),
            tools=list(rec.get("tools") or []),
            vector_store_ids=list(store_ids),
        )
    # The tools part, where present, is the finer inventory (it names each tool's executor).
    listed: set[str] = set()
    for rec in bundle.records("tools"):
        stats = inv.agent(rec.get("agent_id"))
        if stats is None:
            continue
        if stats.id not in listed:
            listed.add(stats.id)
            stats.tools = []
        stats.tools.append(rec)


def _read_files(inv: Inventory, bundle: BundleReader) -> dict[str, tuple[int, bool, bool]]:
    files: dict[str, tuple[int, bool, bool]] = {}
    for rec in bundle.records("files"):
        flags = rec.get("flags") or []
        size = int(rec.get("bytes") or 0)
        missing = FLAG_BYTES_UNAVAILABLE in flags or not rec.get("sha256")
        files[rec["id"]] = (size, missing, FLAG_PARSED_TEXT_ONLY in flags)
        inv.file_bytes += size
        if missing:
            inv.files_without_bytes.append(rec.get("filename") or rec["id"])
    for rec in bundle.records("vector_stores"):
        inv.stores[rec["id"]] = StoreStats(id=rec["id"], name=rec.get("name"))
    return files


def _read_store_files(
    inv: Inventory, bundle: BundleReader, files: dict[str, tuple[int, bool, bool]]
) -> None:
    for rec in bundle.records("vector_store_files"):
        store = inv.stores.get(rec.get("vector_store_id") or "")
        if store is None:
            continue
        size, missing, parsed_only = files.get(rec["id"], (0, True, False))
        store.files += 1
        store.bytes += size
        store.files_without_bytes += int(missing and not parsed_only)
        store.parsed_text_only += int(
            parsed_only or FLAG_PARSED_TEXT_ONLY in (rec.get("flags") or [])
        )


def _read_runs(inv: Inventory, bundle: BundleReader) -> dict[str, str]:
    """Count runs and tokens per agent; returns which agent ran each conversation."""
    owners: dict[str, str] = {}
    for rec in bundle.records("runs"):
        stats = inv.agent(rec.get("agent_id"))
        if stats is None:
            continue
        if rec.get("conversation_id"):
            owners.setdefault(rec["conversation_id"], stats.id)
        stats.runs_by_status[str(rec.get("status"))] += 1
        usage = rec.get("usage") or {}
        bucket = stats.tokens_by_month[month_of(rec.get("created_at"))]
        bucket[0] += int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
        bucket[1] += int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)
    for rec in bundle.records("run_steps"):
        stats = inv.agent(rec.get("agent_id"))
        details = rec.get("step_details") or {}
        if stats is None or details.get("type") != "tool_calls":
            continue
        for call in details.get("tool_calls") or []:
            name = (
                (call.get("function") or {}).get("name") if call.get("type") == "function" else None
            )
            stats.tool_calls[name or str(call.get("type"))] += 1
    return owners


def _read_conversations(inv: Inventory, bundle: BundleReader, owners: dict[str, str]) -> None:
    for rec in bundle.records("conversations"):
        owner = rec.get("agent_id") or owners.get(rec["id"])
        stats = inv.agent(owner)
        if stats is not None:
            stats.conversations += 1
        if FLAG_AGENT_MISSING in (rec.get("flags") or []):
            inv.conversations_without_agent += 1
    for rec in bundle.records("items"):
        if rec.get("type") != "message":
            continue
        chars = _text_chars(rec.get("content"))
        inv.text_chars += chars
        inv.longest_message_chars = max(inv.longest_message_chars, chars)
        stats = inv.agent(rec.get("agent_id") or owners.get(rec.get("conversation_id") or ""))
        if stats is not None:
            stats.messages += 1
            stats.messages_by_month[month_of(rec.get("created_at"))] += 1


def take_inventory(bundle: BundleReader) -> Inventory:
    """Read every part once and aggregate per agent, month and vector store."""
    inv = Inventory(source=dict(bundle.manifest.source), counts=bundle.counts())
    _read_agents(inv, bundle)
    files = _read_files(inv, bundle)
    _read_store_files(inv, bundle, files)
    owners = _read_runs(inv, bundle)
    _read_conversations(inv, bundle, owners)
    inv.memories = inv.counts.get("memories", 0)
    return inv


def records_of(bundle: BundleReader, part: str) -> list[Record]:
    """All records of a small part (agents, stores) for the report's detail tables."""
    return list(bundle.records(part))
