"""Recorded conversations as replayable exchanges, from a bundle or from the store.

An *exchange* is one point where the client gave input (a user message, or tool outputs) and the
managed platform answered (text, or function calls for the client to run). Replaying it means
sending the recorded history plus that input to the candidate and comparing its answer with the
recorded one. Function calls of Assistants runs live in run steps; they become ``function_call``
and ``function_call_output`` items here, so both protocols replay the same way.

Items are neutral dicts: ``{"type": "message", "role", "text"}``,
``{"type": "function_call", "call_id", "name", "arguments"}``,
``{"type": "function_call_output", "call_id", "output"}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy import select

from homeport.bundle import BundleReader
from homeport.compare.answers import Answer, ToolCall
from homeport.store.db import Database
from homeport.store.models.runtime import Agent, Conversation, Item, Run, RunStep

Record = dict[str, Any]
_CLIENT, _CALL, _OUTPUT, _ASSISTANT, _FAILED = range(5)


@dataclass(frozen=True)
class AgentSpec:
    id: str
    name: str | None = None
    model: str = ""
    instructions: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_resources: dict[str, Any] = field(default_factory=dict)
    response_format: Any = None
    temperature: float | None = None
    top_p: float | None = None

    @classmethod
    def from_record(cls, record: Record) -> AgentSpec:
        return cls(
            id=record["id"],
            name=record.get("name"),
            model=record.get("model") or "",
            instructions=record.get("instructions"),
            tools=tuple(record.get("tools") or ()),
            tool_resources=record.get("tool_resources") or {},
            response_format=record.get("response_format"),
            temperature=record.get("temperature"),
            top_p=record.get("top_p"),
        )


@dataclass(frozen=True)
class Exchange:
    history: tuple[Record, ...]
    inputs: tuple[Record, ...]
    recorded: Answer

    @property
    def question(self) -> str:
        for item in reversed(self.history + self.inputs):
            if item["type"] == "message" and item["role"] == "user":
                return str(item["text"])
        return ""


@dataclass(frozen=True)
class Transcript:
    conversation_id: str
    agent: AgentSpec
    exchanges: tuple[Exchange, ...]


class RecordSource(Protocol):
    """Neutral records (the bundle's schema) for a chosen set of conversations."""

    def agents(self) -> Iterator[Record]: ...
    def conversations(self) -> Iterator[Record]: ...
    def items(self, conversation_ids: set[str]) -> Iterator[Record]: ...
    def runs(self, conversation_ids: set[str] | None) -> Iterator[Record]:
        """Runs of those conversations (of all conversations when None)."""
        ...

    def run_steps(self, conversation_ids: set[str]) -> Iterator[Record]: ...


@dataclass
class BundleRecords:
    """Streams the bundle's parts, keeping only the chosen conversations' records."""

    bundle: BundleReader

    def agents(self) -> Iterator[Record]:
        return self.bundle.records("agents")

    def conversations(self) -> Iterator[Record]:
        return self.bundle.records("conversations")

    def _of(self, part: str, ids: set[str] | None) -> Iterator[Record]:
        records = self.bundle.records(part)
        return records if ids is None else (r for r in records if r.get("conversation_id") in ids)

    def items(self, conversation_ids: set[str]) -> Iterator[Record]:
        return self._of("items", conversation_ids)

    def runs(self, conversation_ids: set[str] | None) -> Iterator[Record]:
        return self._of("runs", conversation_ids)

    def run_steps(self, conversation_ids: set[str]) -> Iterator[Record]:
        return self._of("run_steps", conversation_ids)


def _row(obj: Any, names: Iterable[str]) -> Record:
    return {name: getattr(obj, "metadata_" if name == "metadata" else name) for name in names}


@dataclass
class StoreRecords:
    """The same records from homeport's store (conversations imported or served there)."""

    db: Database
    project_id: str | None = None

    def _scoped(self, model: Any) -> Any:
        query = select(model).order_by(model.seq)
        return (
            query if self.project_id is None else query.where(model.project_id == self.project_id)
        )

    def _rows(self, query: Any, names: tuple[str, ...]) -> Iterator[Record]:
        with self.db.sessions() as session:
            for obj in session.scalars(query.execution_options(yield_per=500)):
                yield _row(obj, names)

    def agents(self) -> Iterator[Record]:
        names = (
            "id",
            "name",
            "model",
            "instructions",
            "tools",
            "tool_resources",
            "response_format",
            "temperature",
            "top_p",
        )
        return self._rows(self._scoped(Agent), names)

    def conversations(self) -> Iterator[Record]:
        return self._rows(self._scoped(Conversation), ("id",))

    def items(self, conversation_ids: set[str]) -> Iterator[Record]:
        names = ("id", "conversation_id", "created_at", "type", "role", "content", "run_id", "data")
        return self._rows(
            self._scoped(Item).where(Item.conversation_id.in_(conversation_ids)), names
        )

    def runs(self, conversation_ids: set[str] | None) -> Iterator[Record]:
        names = (
            "id",
            "conversation_id",
            "agent_id",
            "status",
            "model",
            "last_error",
            "usage",
            "created_at",
            "started_at",
            "completed_at",
            "failed_at",
        )
        query = self._scoped(Run)
        if conversation_ids is not None:
            query = query.where(Run.conversation_id.in_(conversation_ids))
        return self._rows(query, names)

    def run_steps(self, conversation_ids: set[str]) -> Iterator[Record]:
        names = ("id", "run_id", "conversation_id", "type", "status", "step_details", "created_at")
        return self._rows(
            self._scoped(RunStep).where(RunStep.conversation_id.in_(conversation_ids)), names
        )


def content_text(content: Any) -> str:
    """The text of a message's content parts, in either protocol's shape."""
    if isinstance(content, str):
        return content
    texts = []
    for part in content or ():
        text = part.get("text") if isinstance(part, dict) else None
        if isinstance(text, dict):
            text = text.get("value")
        if isinstance(text, str):
            texts.append(text)
    return "\n".join(texts)


def _stream(items: list[Record], steps: list[Record], runs: dict[str, Record]) -> list[Any]:
    """(created_at, rank, n, item, run_id) events in conversation order."""
    events: list[Any] = []
    seen_calls: set[str] = set()

    def add(at: Any, rank: int, item: Record, run_id: str | None) -> None:
        events.append((at or 0, rank, len(events), item, run_id))

    for item in items:
        kind, data = item["type"], item.get("data") or {}
        if kind == "message" and item.get("role") in ("user", "assistant"):
            rank = _CLIENT if item["role"] == "user" else _ASSISTANT
            add(
                item["created_at"],
                rank,
                {
                    "type": "message",
                    "role": item["role"],
                    "text": content_text(item.get("content")),
                },
                item.get("run_id"),
            )
        elif kind == "function_call":
            seen_calls.add(data.get("call_id", ""))
            add(
                item["created_at"],
                _CALL,
                {
                    "type": "function_call",
                    "call_id": data.get("call_id", ""),
                    "name": data.get("name", ""),
                    "arguments": data.get("arguments", "{}"),
                },
                item.get("run_id"),
            )
        elif kind == "function_call_output":
            add(
                item["created_at"],
                _OUTPUT,
                {
                    "type": "function_call_output",
                    "call_id": data.get("call_id", ""),
                    "output": data.get("output", ""),
                },
                None,
            )
    for step in steps:
        details = step.get("step_details") or {}
        for call in details.get("tool_calls") or ():
            function = call.get("function") if call.get("type") == "function" else None
            if function is None or call.get("id") in seen_calls:
                continue
            add(
                step["created_at"],
                _CALL,
                {
                    "type": "function_call",
                    "call_id": call["id"],
                    "name": function.get("name", ""),
                    "arguments": function.get("arguments") or "{}",
                },
                step.get("run_id"),
            )
            if function.get("output") is not None:
                add(
                    step["created_at"],
                    _OUTPUT,
                    {
                        "type": "function_call_output",
                        "call_id": call["id"],
                        "output": function["output"],
                    },
                    None,
                )
    for run in runs.values():
        if run.get("status") in ("failed", "expired", "cancelled", "incomplete"):
            error = (run.get("last_error") or {}).get("code") or run["status"]
            add(
                run.get("failed_at") or run.get("completed_at") or run.get("created_at"),
                _FAILED,
                {"type": "error", "error": error},
                run["id"],
            )
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    return events


def _recorded(outputs: list[Record]) -> Answer:
    errors = [o["error"] for o in outputs if o["type"] == "error"]
    return Answer(
        text="\n".join(o["text"] for o in outputs if o["type"] == "message"),
        tool_calls=tuple(
            ToolCall(o["name"], o["arguments"]) for o in outputs if o["type"] == "function_call"
        ),
        error=errors[0] if errors else None,
    )


def _metered(answer: Answer, run: Record) -> Answer:
    """The answer with its run's latency (whole seconds, as platforms record) and usage."""
    usage = run.get("usage") or {}
    started = run.get("started_at") or run.get("created_at")
    ended = run.get("completed_at")
    return replace(
        answer,
        latency_s=float(ended - started) if started and ended else None,
        input_tokens=usage.get("prompt_tokens", usage.get("input_tokens")),
        output_tokens=usage.get("completion_tokens", usage.get("output_tokens")),
    )


def exchanges(items: list[Record], steps: list[Record], runs: dict[str, Record]) -> list[Exchange]:
    """Cut one conversation's records into exchanges (see the module docstring).

    A run that answered in several rounds (function calls, then text) has one latency and one
    usage: they are given to its last exchange, the earlier ones have none.
    """
    cut: list[tuple[Exchange, str | None]] = []
    history: list[Record] = []
    inputs: list[Record] = []
    outputs: list[Record] = []
    run_id: str | None = None

    def close() -> None:
        nonlocal inputs, outputs, run_id
        if inputs and outputs:
            cut.append((Exchange(tuple(history), tuple(inputs), _recorded(outputs)), run_id))
        history.extend(inputs)
        history.extend(o for o in outputs if o["type"] != "error")
        inputs, outputs, run_id = [], [], None

    for _, rank, _, item, item_run in _stream(items, steps, runs):
        if rank in (_CLIENT, _OUTPUT):
            if outputs:
                close()
            inputs.append(item)
        else:
            outputs.append(item)
            run_id = item_run or run_id
    close()
    found = []
    for n, (exchange, run) in enumerate(cut):
        later = {r for _, r in cut[n + 1 :]}
        if run is not None and run not in later and run in runs:
            exchange = replace(exchange, recorded=_metered(exchange.recorded, runs[run]))
        found.append(exchange)
    return found


def load_transcripts(
    source: RecordSource, *, limit: int | None = None, agent: str | None = None
) -> list[Transcript]:
    """Up to ``limit`` conversations (of ``agent``, by id or name) with at least one exchange.

    A conversation's agent is its own ``agent_id`` or that of its first run (threads carry none);
    conversations without runs have nothing recorded to compare with and are skipped.
    """
    agents = {a["id"]: AgentSpec.from_record(a) for a in source.agents()}
    run_agent: dict[str, str] = {}
    for run in source.runs(None):
        run_agent.setdefault(run["conversation_id"], run.get("agent_id") or "")
    chosen: dict[str, AgentSpec] = {}
    for conversation in source.conversations():
        if conversation["id"] not in run_agent:
            continue
        spec = agents.get(conversation.get("agent_id") or run_agent[conversation["id"]])
        if spec is not None and agent in (None, spec.id, spec.name):
            chosen[conversation["id"]] = spec
            if limit is not None and len(chosen) >= limit:
                break
    ids = set(chosen)
    items: dict[str, list[Record]] = {}
    for item in source.items(ids):
        items.setdefault(item["conversation_id"], []).append(item)
    steps: dict[str, list[Record]] = {}
    for step in source.run_steps(ids):
        steps.setdefault(step["conversation_id"], []).append(step)
    runs: dict[str, dict[str, Record]] = {}
    for run in source.runs(ids):
        runs.setdefault(run["conversation_id"], {})[run["id"]] = run
    out = []
    for conversation_id, spec in chosen.items():
        cut = exchanges(
            items.get(conversation_id, []),
            steps.get(conversation_id, []),
            runs.get(conversation_id, {}),
        )
        if cut:
            out.append(Transcript(conversation_id, spec, tuple(cut)))
    return out
