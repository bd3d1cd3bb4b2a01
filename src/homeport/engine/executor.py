"""The loop of one run claim: context, model call (streaming), tools, limits, cancel, expiry.

Protocol-neutral: what happens is told to the run's ``RunAdapter``; its queued writes and events
are committed at checkpoints (pause, finish, and at most every ``FLUSH_SECONDS`` while streaming
so readers in other processes follow). A run always ends in a terminal status or a pause with a
``done`` event: upstream errors and timeouts fail it with ``last_error``, never hang it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from homeport.engine import context, queue
from homeport.engine.adapter import RunAdapter, RunPlan, RunRow, RunScope, adapter_class
from homeport.engine.events import Event, LiveRun, last_event_number
from homeport.engine.providers.base import ModelProvider, ProviderError
from homeport.engine.settle import adapter_for
from homeport.engine.status import CANCELLED, CANCELLING, COMPLETED, EXPIRED, FAILED, INCOMPLETE
from homeport.engine.tools import ServerTool, ToolContext, place_citations, server_tool
from homeport.engine.types import (
    ZERO_USAGE,
    Finished,
    FinishReason,
    ModelRequest,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolOutcome,
    Usage,
)
from homeport.errors import HomeportError
from homeport.logs import run_id_var
from homeport.store import checks

if TYPE_CHECKING:
    from homeport.engine.engine import Engine

log = logging.getLogger("homeport.engine")

FLUSH_SECONDS = 0.25
INTERNAL_ERROR = "homeport had an internal error while executing this run; see the server log."


class LeaseLost(Exception):
    """Another worker settled the run (our lease expired): our writes are dropped."""


class _Stop(Exception):
    def __init__(self, why: str) -> None:
        self.why = why


@dataclass
class _Turn:
    text: list[str] = field(default_factory=list)
    started: bool = False
    calls: dict[int, ToolCall] = field(default_factory=dict)
    usage: Usage = ZERO_USAGE
    finish: FinishReason = "stop"


class Executor:
    def __init__(
        self,
        engine: Engine,
        scope: RunScope,
        adapter: RunAdapter,
        plan: RunPlan,
        items: list[dict[str, Any]],
    ) -> None:
        self.engine = engine
        self.scope = scope
        self.adapter = adapter
        self.plan = plan
        self.items = items
        self.cancel_seen = False
        self._stop = asyncio.Event()
        self._stop_waiter: asyncio.Task[bool] | None = None
        self._interrupted: str | None = None
        self._lease_lost = False
        self._last_flush = time.monotonic()
        self._annotations: list[dict[str, Any]] = []
        self._seed: list[Event] = []
        self._live: LiveRun | None = None

    @property
    def run_id(self) -> str:
        return self.scope.run_id

    @classmethod
    async def claim(
        cls, engine: Engine, *, run_id: str | None, claimed: RunRow | None
    ) -> Executor | None:
        """Claim ``run_id`` (or take an already claimed row) and load what the run needs."""
        owner, lease = engine.owner, engine.settings.lease_seconds

        def load(conn: Connection) -> Executor | None:
            row = claimed
            if row is None and run_id is not None:
                row = queue.claim(conn, run_id, owner, lease)
            return None if row is None else cls._load(engine, conn, row, 0)

        return await engine.db(load)

    @classmethod
    def prepare(
        cls,
        engine: Engine,
        conn: Connection,
        run: RunRow | str,
        *,
        seed: Sequence[Event],
        next_n: int,
        items: list[dict[str, Any]] | None = None,
    ) -> Executor | None:
        """Claim (``run`` is an id) or take a claimed row, and load the run inside the caller's
        transaction (see ``Engine.prepare``)."""
        row = (
            queue.claim(conn, run, engine.owner, engine.settings.lease_seconds)
            if isinstance(run, str)
            else run
        )
        if row is None:
            return None
        executor = cls._load(engine, conn, row, seed[-1][0] + 1 if seed else next_n, items)
        executor._seed = list(seed)
        return executor

    @classmethod
    def _load(
        cls,
        engine: Engine,
        conn: Connection,
        row: RunRow,
        next_n: int,
        items: list[dict[str, Any]] | None = None,
    ) -> Executor:
        """``next_n`` 0: read the next event number from the log; ``items`` None: read the
        context items."""
        if not next_n:
            next_n = last_event_number(conn, row["id"]) + 1
        scope = RunScope(engine.services, row, next_n=next_n, owner=engine.owner)
        adapter = adapter_class(row["kind"])(scope)
        plan = adapter.plan()
        if items is None:
            items = adapter.context_items(conn)
        return cls(engine, scope, adapter, plan, items)

    # -- signals from the engine ----------------------------------------------------------

    def request_cancel(self) -> None:
        self.cancel_seen = True
        self._stop.set()

    def interrupt(self, reason: str) -> None:
        self._interrupted = reason
        self._stop.set()

    def lost_lease(self) -> None:
        self._lease_lost = True
        self._stop.set()

    # -- the run ---------------------------------------------------------------------------

    def open(self) -> None:
        """Publish this run's events to subscribers in this process from now on (with the
        events of the transaction that claimed it, if ``prepare`` did)."""
        bus = self.engine.bus
        first_n = self._seed[0][0] if self._seed else self.scope.next_n
        self._live = bus.open(self.run_id, first_n, self._seed)
        self.scope.bus = bus

    async def run(self) -> None:
        bus, live = self.engine.bus, self._live
        assert live is not None, "open() first"
        token = run_id_var.set(self.run_id)
        outcome: RunRow | None = None
        try:
            try:
                await self._drive()
            except Exception:
                log.exception("run failed inside homeport")
                self._end(FAILED, error={"code": "server_error", "message": INTERNAL_ERROR})
            try:
                await self._release()
                outcome = dict(self.scope.run)
            except LeaseLost:
                raise
            except Exception:
                log.exception("could not store the run's outcome; failing it")
                await self.engine.db(self._fail_unstored)
        except LeaseLost:
            log.warning("lease lost; another worker settled the run")
        finally:
            if self._stop_waiter is not None:
                self._stop_waiter.cancel()
            bus.close(self.run_id, live, outcome)
            run_id_var.reset(token)

    def _fail_unstored(self, conn: Connection) -> None:
        """The outcome could not be written: fail the run from its stored state instead."""
        row = queue.load_run(conn, self.run_id)
        if row is None or row["lease_owner"] != self.engine.owner:
            return
        adapter = adapter_for(self.engine.services, conn, row)
        adapter.finish(FAILED, error={"code": "server_error", "message": INTERNAL_ERROR})
        adapter.scope.update_run(lease_owner=None, lease_expires_at=None)
        adapter.scope.flush(conn)

    async def _release(self) -> None:
        self.scope.update_run(lease_owner=None, lease_expires_at=None)
        await self._flush()

    async def _flush(self) -> None:
        scope = self.scope

        def write(conn: Connection) -> None:
            if not scope.flush(conn):
                raise LeaseLost

        if self._lease_lost:
            raise LeaseLost
        try:
            await self.engine.db(write)
        except DBAPIError as exc:
            if checks.failed(exc, checks.LEASE_LOST):
                raise LeaseLost from exc
            raise
        scope.publish_committed()
        self._last_flush = time.monotonic()

    def _end(self, status: str, **kwargs: Any) -> None:
        self.engine.services.metrics.runs.labels(self.scope.run["kind"], status).inc()
        self.adapter.finish(status, usage=self.scope.usage, **kwargs)

    def _stopped_status(self) -> tuple[str, dict[str, Any]]:
        if self._lease_lost:
            raise LeaseLost
        if self._interrupted is not None:
            return FAILED, {"error": {"code": "server_error", "message": self._interrupted}}
        self.scope.run["status"] = CANCELLING  # as the canceller wrote it
        return CANCELLED, {}

    async def _drive(self) -> None:
        run, plan, scope = self.scope.run, self.plan, self.scope
        if run.get("expires_at") and run["expires_at"] <= time.time():
            self._end(EXPIRED)
            return
        if run.get("cancel_requested"):
            self._end(CANCELLED)
            return
        self.adapter.begin(resumed=run.get("attempts", 1) > 1)
        try:
            provider = self.engine.providers.get(plan.model)
        except ProviderError as exc:
            self._end(FAILED, error={"code": exc.code, "message": exc.message})
            return
        servers = self._server_tools()
        tools = [*plan.functions, *(tool.as_function(cfg) for tool, cfg in servers.values())]
        messages = context.to_messages(self.items)
        budget = plan.max_output_tokens
        for _ in range(self.engine.settings.max_tool_rounds + 1):
            if plan.max_prompt_tokens is not None and scope.usage.prompt_tokens >= (
                plan.max_prompt_tokens
            ):
                self._end(INCOMPLETE, incomplete_details={"reason": "max_prompt_tokens"})
                return
            remaining = None if budget is None else budget - scope.usage.completion_tokens
            if remaining is not None and remaining <= 0:
                self._end(INCOMPLETE, incomplete_details={"reason": "max_output_tokens"})
                return
            prompt = context.truncate(messages, plan.truncation, self._prompt_budget())
            request = ModelRequest(
                model=plan.model,
                messages=context.with_instructions(prompt, plan.instructions),
                tools=tools,
                tool_choice=plan.tool_choice if tools else None,
                parallel_tool_calls=plan.parallel_tool_calls if tools else None,
                temperature=plan.temperature,
                top_p=plan.top_p,
                max_tokens=remaining,
                response_format=plan.response_format,
                reasoning_effort=plan.reasoning_effort,
                user=plan.user,
            )
            turn = _Turn()
            try:
                await self._race(self._call(provider, request, turn))
            except _Stop as stop:
                if stop.why == "expired":
                    self._close_message(turn, incomplete="run_expired")
                    self._end(EXPIRED)
                else:
                    status, extra = self._stopped_status()
                    self._close_message(turn, incomplete=f"run_{status}")
                    self._end(status, **extra)
                return
            except ProviderError as exc:
                self._close_message(turn, incomplete="run_failed")
                self._end(FAILED, error={"code": exc.code, "message": exc.message})
                return
            scope.usage = scope.usage + turn.usage
            calls = [turn.calls[i] for i in sorted(turn.calls)]
            cut = {"length": "max_tokens", "content_filter": "content_filter"}
            self._close_message(turn, incomplete=None if calls else cut.get(turn.finish))
            if not calls:
                if turn.finish == "length":
                    self._end(INCOMPLETE, incomplete_details={"reason": "max_output_tokens"})
                elif turn.finish == "content_filter":
                    self._end(INCOMPLETE, incomplete_details={"reason": "content_filter"})
                else:
                    self._end(COMPLETED)
                return
            client_names = {f["function"]["name"] for f in plan.functions}
            for call in calls:
                call.arguments = call.arguments or "{}"
                call.server = call.name in servers and call.name not in client_names
            self.adapter.tool_calls_made(calls, turn.usage)
            messages.append(_assistant_message(turn, calls))
            server_calls = [c for c in calls if c.server]
            if server_calls:
                outcomes = await asyncio.gather(
                    *(self._call_tool(servers, c) for c in server_calls)
                )
                self.adapter.tool_results(list(outcomes))
                self._annotations.extend(a for o in outcomes for a in o.annotations)
                messages.extend(
                    {"role": "tool", "tool_call_id": o.call.id, "content": o.output}
                    for o in outcomes
                )
            client_calls = [c for c in calls if not c.server]
            if client_calls:
                self.adapter.requires_action(client_calls)
                return
            if self._stop.is_set():
                status, extra = self._stopped_status()
                self._end(status, **extra)
                return
        self._end(
            FAILED,
            error={
                "code": "server_error",
                "message": f"The model called tools {self.engine.settings.max_tool_rounds + 1} "
                "times in a row without answering (raise engine.max_tool_rounds to allow more).",
            },
        )

    def _prompt_budget(self) -> int | None:
        route = self.engine.services.settings.route(self.plan.model)
        window = route.context_window if route is not None else None
        limit = self.plan.max_prompt_tokens
        if limit is None:
            return window
        return min(limit, window) if window else limit

    def _server_tools(self) -> dict[str, tuple[ServerTool, dict[str, Any]]]:
        found: dict[str, tuple[ServerTool, dict[str, Any]]] = {}
        for cfg in self.plan.server_tools:
            tool = server_tool(cfg["type"])
            if tool is not None:
                found[tool.type_name] = (tool, cfg)
        return found

    def _close_message(self, turn: _Turn, *, incomplete: str | None) -> None:
        if turn.started:
            usage = ZERO_USAGE if turn.calls else turn.usage
            annotations, self._annotations = self._annotations, []
            text = "".join(turn.text)
            annotations = place_citations(text, annotations)
            self.adapter.message_done(text, annotations, usage, incomplete)
            turn.started = False

    async def _race(self, work: Any) -> None:
        """Run ``work`` until done, cancel (or interrupt) or the run's expiry."""
        if self._stop.is_set():
            raise _Stop("stopped")
        if self._stop_waiter is None:
            self._stop_waiter = asyncio.ensure_future(self._stop.wait())
        task = asyncio.ensure_future(work)
        expires_at = self.scope.run.get("expires_at")
        timeout = None if not expires_at else max(0.0, expires_at - time.time())
        done, _ = await asyncio.wait(
            {task, self._stop_waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise _Stop("stopped" if self._stop_waiter in done else "expired")

    async def _call(self, provider: ModelProvider, request: ModelRequest, turn: _Turn) -> None:
        metrics = self.engine.services.metrics
        labels = (request.model, provider.route.provider)
        start = time.perf_counter()
        first = True
        adapter = self.adapter
        try:
            async for event in provider.stream(request):
                if first and isinstance(event, TextDelta | ToolCallDelta):
                    first = False
                    metrics.model_ttft.labels(*labels).observe(time.perf_counter() - start)
                if isinstance(event, TextDelta):
                    if not event.text:
                        continue
                    if not turn.started:
                        turn.started = True
                        adapter.message_started()
                    turn.text.append(event.text)
                    adapter.text_delta(event.text)
                    if time.monotonic() - self._last_flush > FLUSH_SECONDS:
                        await self._flush()
                elif isinstance(event, ToolCallDelta):
                    call = turn.calls.get(event.index)
                    if call is None:
                        call = turn.calls[event.index] = ToolCall("", "", "")
                    call.id = call.id or event.id or ""
                    call.name = call.name or event.name or ""
                    call.arguments += event.arguments
                elif isinstance(event, ReasoningDelta):
                    adapter.reasoning_delta(event.text)
                elif isinstance(event, Usage):
                    turn.usage = event
                elif isinstance(event, Finished):
                    turn.finish = event.reason
        except ProviderError:
            metrics.model_errors.labels(*labels).inc()
            raise
        except (OSError, ValueError) as exc:
            metrics.model_errors.labels(*labels).inc()
            raise ProviderError(f"model '{request.model}' failed: {exc}") from exc
        metrics.model_latency.labels(*labels).observe(time.perf_counter() - start)
        metrics.tokens.labels(request.model, "prompt").inc(turn.usage.prompt_tokens)
        metrics.tokens.labels(request.model, "completion").inc(turn.usage.completion_tokens)

    async def _call_tool(
        self, servers: dict[str, tuple[ServerTool, dict[str, Any]]], call: ToolCall
    ) -> ToolOutcome:
        tool, cfg = servers[call.name]
        run = self.scope.run
        ctx = ToolContext(
            services=self.engine.services,
            project_id=run["project_id"],
            run_id=run["id"],
            conversation_id=run.get("conversation_id"),
            config=cfg,
            tool_resources=self.plan.tool_resources,
        )
        try:
            arguments = json.loads(call.arguments or "{}")
            result = await tool.call(arguments if isinstance(arguments, dict) else {}, ctx)
        except ValueError:
            return ToolOutcome(call, f"Error: the arguments are not valid JSON: {call.arguments}")
        except HomeportError as exc:
            return ToolOutcome(call, f"Error: {exc.message}")
        return ToolOutcome(call, result.output, result.details, result.annotations)


def _assistant_message(turn: _Turn, calls: list[ToolCall]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": "".join(turn.text) or None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ],
    }
