"""Assistants API runs: run steps, thread messages and ``thread.run.*`` events as OpenAI's.

Per model turn a run makes a ``message_creation`` step (with its assistant message) and/or a
``tool_calls`` step. Client function calls pause the run in ``requires_action``; the step stays
``in_progress`` until the outputs arrive and the resumed run completes it. Tool calls and outputs
are also stored as conversation items (``function_call``, ``function_call_output``,
``file_search_call``), so the thread reads the same as a conversation.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Connection, bindparam, or_, select, update

from homeport.api.wire.messages import render_message, text_part
from homeport.api.wire.runs import render_run, render_step
from homeport.engine.adapter import RunAdapter, RunPlan
from homeport.engine.rows import ITEMS, STEPS, item_row
from homeport.engine.status import (
    CANCELLED,
    COMPLETED,
    EXPIRED,
    FAILED,
    IN_PROGRESS,
    REQUIRES_ACTION,
)
from homeport.engine.types import ToolCall, ToolOutcome, Usage
from homeport.ids import new_id
from homeport.store.models import Item

CONTEXT_TYPES = ("message", "function_call", "function_call_output", "file_search_call")
INCOMPLETE_REASONS = {"max_output_tokens": "max_completion_tokens"}
STEP_END = {
    COMPLETED: (COMPLETED, "completed_at"),
    CANCELLED: (CANCELLED, "cancelled_at"),
    EXPIRED: (EXPIRED, "expired_at"),
    FAILED: (FAILED, "failed_at"),
}
RUN_END_STAMP = {COMPLETED: "completed_at", CANCELLED: "cancelled_at", FAILED: "failed_at"}
_CONTEXT = (
    select(ITEMS.c.id, ITEMS.c.type, ITEMS.c.role, ITEMS.c.content, ITEMS.c.data)
    .where(
        ITEMS.c.conversation_id == bindparam("p_thread"),
        or_(*(ITEMS.c.type == kind for kind in CONTEXT_TYPES)),
    )
    .order_by(ITEMS.c.created_at, ITEMS.c.seq)
)
"""The thread's items the model sees, oldest first (built once; the thread goes as a parameter)."""


def chat_tool_choice(choice: Any) -> Any:
    """Assistants ``tool_choice`` -> chat-completions ``tool_choice``."""
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            return {"type": "function", "function": {"name": choice["function"]["name"]}}
        return {"type": "function", "function": {"name": choice.get("type")}}
    return choice


def chat_response_format(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or value.get("type") == "text":
        return None
    return value


class Adapter(RunAdapter):
    kind = "run"

    def __init__(self, scope: Any) -> None:
        super().__init__(scope)
        self.include = frozenset(scope.run.get("params", {}).get("include") or ())
        self.message: dict[str, Any] | None = None
        self.message_step: dict[str, Any] | None = None
        self.tool_step: dict[str, Any] | None = None
        self.pending_outputs: dict[str, str] = {}

    # -- setup ---------------------------------------------------------------------------

    def plan(self) -> RunPlan:
        run = self.scope.run
        params = run.get("params") or {}
        functions = [t for t in run.get("tools") or () if t.get("type") == "function"]
        servers = [t for t in run.get("tools") or () if t.get("type") != "function"]
        truncation = params.get("truncation_strategy") or {}
        kind = truncation.get("type", "auto")
        return RunPlan(
            model=run["model"],
            instructions=run.get("instructions"),
            functions=[{"type": "function", "function": t["function"]} for t in functions],
            server_tools=servers,
            tool_choice=chat_tool_choice(params.get("tool_choice")),
            parallel_tool_calls=params.get("parallel_tool_calls"),
            temperature=params.get("temperature"),
            top_p=params.get("top_p"),
            response_format=chat_response_format(params.get("response_format")),
            reasoning_effort=params.get("reasoning_effort"),
            max_output_tokens=params.get("max_completion_tokens"),
            max_prompt_tokens=params.get("max_prompt_tokens"),
            truncation=(kind, truncation.get("last_messages") if kind == "last_messages" else None),
            tool_resources=run.get("tool_resources") or {},
        )

    def context_items(self, conn: Connection) -> list[dict[str, Any]]:
        run = self.scope.run
        rows = conn.execute(_CONTEXT, {"p_thread": run["conversation_id"]}).mappings()
        items = [dict(r) for r in rows]
        if run.get("attempts", 1) > 1:
            step = (
                conn.execute(
                    select(STEPS).where(
                        STEPS.c.run_id == run["id"],
                        STEPS.c.status == IN_PROGRESS,
                        STEPS.c.type == "tool_calls",
                    )
                )
                .mappings()
                .first()
            )
            if step is not None:
                self.tool_step = {k: v for k, v in step.items() if k != "seq"}
                self.pending_outputs = {
                    i["data"].get("call_id"): i["data"].get("output", "")
                    for i in items
                    if i["type"] == "function_call_output"
                }
        return items

    # -- events --------------------------------------------------------------------------

    def _run_event(self, name: str) -> None:
        self.scope.emit(f"thread.run.{name}", render_run(self.scope.run))

    def _step_event(self, name: str, step: dict[str, Any]) -> None:
        self.scope.emit(f"thread.run.step.{name}", render_step(step, self.include))

    def _new_step(self, kind: str, details: dict[str, Any]) -> dict[str, Any]:
        run = self.scope.run
        return {
            "id": new_id("step"),
            "project_id": run["project_id"],
            "run_id": run["id"],
            "conversation_id": run["conversation_id"],
            "agent_id": run["agent_id"],
            "type": kind,
            "status": IN_PROGRESS,
            "step_details": details,
            "last_error": None,
            "usage": None,
            "metadata": {},
            "created_at": self.scope.now(),
            "expired_at": None,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
        }

    def _end_step(
        self,
        step: dict[str, Any],
        status: str,
        usage: Usage | None,
        error: dict[str, Any] | None = None,
    ) -> None:
        """Close a step (in memory), write its final row (insert or update) and emit."""
        new, stamp = STEP_END[status]
        step.update(status=new, **{stamp: self.scope.now()})
        if usage is not None:
            step["usage"] = usage.as_dict()
        if error is not None and new == FAILED:
            step["last_error"] = error
        self._step_event(new, step)

    # -- hooks ---------------------------------------------------------------------------

    def begin(self, resumed: bool) -> None:
        self._run_event(IN_PROGRESS)
        step = self.tool_step
        if resumed and step is not None:
            for call in step["step_details"]["tool_calls"]:
                if call.get("type") == "function" and call["function"].get("output") is None:
                    call["function"]["output"] = self.pending_outputs.get(call["id"], "")
            self._end_step(step, COMPLETED, None)
            self.scope.write(
                update(STEPS)
                .where(STEPS.c.id == step["id"])
                .values(
                    status=step["status"],
                    completed_at=step["completed_at"],
                    step_details=step["step_details"],
                )
            )
            self.tool_step = None

    def message_started(self) -> None:
        run, now = self.scope.run, self.scope.now()
        message_id = new_id("msg")
        self.message = item_row(
            project_id=run["project_id"],
            type="message",
            created_at=now,
            conversation_id=run["conversation_id"],
            run_id=run["id"],
            agent_id=run["agent_id"],
            role="assistant",
            status=IN_PROGRESS,
            item_id=message_id,
        )
        self.message_step = self._new_step(
            "message_creation",
            {"type": "message_creation", "message_creation": {"message_id": message_id}},
        )
        self._step_event("created", self.message_step)
        self._step_event(IN_PROGRESS, self.message_step)
        self._message_event("created")
        self._message_event(IN_PROGRESS)

    def _message_event(self, name: str) -> None:
        assert self.message is not None
        self.scope.emit(f"thread.message.{name}", render_message(_as_item(self.message)))

    def text_delta(self, text: str) -> None:
        assert self.message is not None
        self.scope.emit(
            "thread.message.delta",
            {
                "id": self.message["id"],
                "object": "thread.message.delta",
                "delta": {
                    "content": [
                        {"index": 0, "type": "text", "text": {"value": text, "annotations": []}}
                    ]
                },
            },
        )

    def message_done(
        self, text: str, annotations: list[dict[str, Any]], usage: Usage, incomplete: str | None
    ) -> None:
        message, step = self.message, self.message_step
        assert message is not None and step is not None
        now = self.scope.now()
        message["content"] = [text_part(text, annotations)]
        if incomplete is None:
            message.update(status=COMPLETED, completed_at=now)
            self._message_event(COMPLETED)
        else:
            message.update(
                status="incomplete", incomplete_at=now, incomplete_details={"reason": incomplete}
            )
            self._message_event("incomplete")
        step_status = {
            None: COMPLETED,
            "max_tokens": COMPLETED,
            "content_filter": COMPLETED,
            "run_cancelled": CANCELLED,
            "run_expired": EXPIRED,
        }.get(incomplete, FAILED)
        self._end_step(step, step_status, usage)
        self.scope.insert(ITEMS, message)
        self.scope.insert(STEPS, step)
        self.message = self.message_step = None

    def tool_calls_made(self, calls: list[ToolCall], usage: Usage) -> None:
        step = self._new_step("tool_calls", {"type": "tool_calls", "tool_calls": []})
        step["step_details"]["tool_calls"] = [_step_call(c) for c in calls]
        step["usage"] = usage.as_dict()
        self.tool_step = step
        self._step_event(
            "created",
            {**step, "step_details": {"type": "tool_calls", "tool_calls": []}, "usage": None},
        )
        self._step_event(
            IN_PROGRESS,
            {**step, "step_details": {"type": "tool_calls", "tool_calls": []}, "usage": None},
        )
        self.scope.emit(
            "thread.run.step.delta",
            {
                "id": step["id"],
                "object": "thread.run.step.delta",
                "delta": {
                    "step_details": {
                        "type": "tool_calls",
                        "tool_calls": [{"index": i, **_step_call(c)} for i, c in enumerate(calls)],
                    }
                },
            },
        )
        run, now = self.scope.run, self.scope.now()
        for call in calls:
            if not call.server:
                self.scope.insert(
                    ITEMS,
                    _item(
                        run,
                        now,
                        "function_call",
                        {"call_id": call.id, "name": call.name, "arguments": call.arguments},
                    ),
                )

    def tool_results(self, outcomes: list[ToolOutcome]) -> None:
        step = self.tool_step
        assert step is not None
        run, now = self.scope.run, self.scope.now()
        by_id = {o.call.id: o for o in outcomes}
        for entry in step["step_details"]["tool_calls"]:
            outcome = by_id.get(entry["id"])
            if outcome is None:
                continue
            kind = entry["type"]
            entry[kind] = (
                outcome.details
                if kind != "function"
                else {**entry["function"], "output": outcome.output}
            )
            self.scope.insert(
                ITEMS,
                _item(
                    run,
                    now,
                    f"{kind}_call",
                    {
                        "call_id": outcome.call.id,
                        "name": outcome.call.name,
                        "arguments": outcome.call.arguments,
                        "output": outcome.output,
                        **outcome.details,
                    },
                ),
            )
        if all(
            c.get("type") != "function" or c["function"].get("output") is not None
            for c in step["step_details"]["tool_calls"]
        ):
            self._end_step(step, COMPLETED, None)
            self.scope.insert(STEPS, step)
            self.tool_step = None

    def requires_action(self, calls: list[ToolCall]) -> None:
        step = self.tool_step
        assert step is not None
        self.scope.insert(STEPS, step)
        self.tool_step = None
        required = {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in calls
                ]
            },
        }
        self.scope.set_status(REQUIRES_ACTION, required_action=required)
        self._run_event(REQUIRES_ACTION)
        self.scope.end_stream()

    def finish(
        self,
        status: str,
        *,
        usage: Usage | None = None,
        error: dict[str, Any] | None = None,
        incomplete_details: dict[str, Any] | None = None,
    ) -> None:
        scope = self.scope
        now = scope.now()
        if self.tool_step is not None:  # a step left open by a stop during tool execution
            step = self.tool_step
            self._end_step(step, status if status in STEP_END else CANCELLED, None, error)
            scope.insert(STEPS, step)
            self.tool_step = None
        if status != COMPLETED:
            step_status, stamp = STEP_END[status if status in STEP_END else CANCELLED]
            scope.write(
                update(STEPS)
                .where(STEPS.c.run_id == scope.run_id, STEPS.c.status == IN_PROGRESS)
                .values(status=step_status, **{stamp: now})
            )
        changes: dict[str, Any] = {"required_action": None}
        if status in RUN_END_STAMP:
            changes[RUN_END_STAMP[status]] = now
        if usage is not None:
            changes["usage"] = usage.as_dict()
        if error is not None:
            changes["last_error"] = error
        if incomplete_details is not None:
            reason = incomplete_details.get("reason", "")
            changes["incomplete_details"] = {"reason": INCOMPLETE_REASONS.get(reason, reason)}
        scope.set_status(status, **changes)
        self._run_event(status)
        scope.end_stream()


def _step_call(call: ToolCall) -> dict[str, Any]:
    if call.server:
        return {"id": call.id, "type": call.name, call.name: {}}
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments, "output": None},
    }


def _item(run: dict[str, Any], now: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return item_row(
        project_id=run["project_id"],
        type=kind,
        created_at=now,
        conversation_id=run["conversation_id"],
        run_id=run["id"],
        agent_id=run["agent_id"],
        data=data,
    )


def _as_item(values: dict[str, Any]) -> Item:
    """The item's attributes as the message renderer reads them (a plain namespace: building an
    ORM ``Item`` costs more than rendering it)."""
    fields = {k: v for k, v in values.items() if k != "metadata"}
    return cast(Item, SimpleNamespace(**fields, metadata_=values["metadata"]))
