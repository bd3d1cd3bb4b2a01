"""The per-protocol hooks the executor calls, and the scope they write through.

The executor (``executor.py``) is protocol-neutral: it builds the context, calls the model, routes
tool calls and enforces limits. A ``RunAdapter`` turns what happens into the protocol's objects
and events: Assistants (``assistants_adapter.py``: run steps, thread messages, ``thread.run.*``
events) or Responses (``responses_adapter.py``: output items, ``response.*`` events).

Hooks never touch the database directly. They queue rows with ``scope.insert(...)`` and other
statements with ``scope.write(...)``, change
the run with ``scope.set_status(...)`` / ``scope.update_run(...)`` and append SSE events with
``scope.emit(...)``. The executor commits everything queued in one transaction at checkpoints
(model turn done, pause, finish), so a run costs a few transactions however many events it makes.
Events are published to in-process subscribers at once, before they are committed; the
``done`` that closes a stream segment waits for its commit.

Call order for one claim of a run::

    plan() -> context_items(conn)          # once, in the claim transaction
    begin(resumed)                         # status is already in_progress
    per model turn:
        message_started()                  # at the first text delta
        text_delta(text)*  reasoning_delta(text)*
        message_done(text, annotations, usage, incomplete)   # if text was started
        tool_calls_made(calls, usage)      # if the model called tools (server and client)
        tool_results(outcomes)             # after server tools ran
        requires_action(calls)             # client calls pending: pause (Assistants); or
                                           # the Responses adapter finishes instead
    finish(status, usage=..., error=..., incomplete_details=...)

``finish`` is also called outside the executor (cancel of a queued run, expiry, recovery of a
run whose worker died), with a scope whose run may never have begun.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from sqlalchemy import Connection, Table, bindparam, exists, select, update
from sqlalchemy.sql import Executable, Update

from homeport.engine.rows import RUN_EVENTS, RUNS
from homeport.engine.status import transition
from homeport.engine.types import ZERO_USAGE, ToolCall, ToolOutcome, Usage
from homeport.engine.wakeups import announce
from homeport.store.bulk import insert_rows
from homeport.store.checks import LEASE_LOST, unless

if TYPE_CHECKING:
    from homeport.engine.events import Event, EventBus
    from homeport.services import Services

RunRow = dict[str, Any]
"""A run's column values keyed by column name (``metadata`` for the metadata column)."""

DONE = "done"
"""The event that ends a stream segment (a finished or paused run); data ``[DONE]``."""


@dataclass(slots=True)
class RunPlan:
    """What the adapter decides, from the run row, about how to call the model."""

    model: str
    instructions: str | None = None
    functions: list[dict[str, Any]] = field(default_factory=list)
    """Client-side function tools, chat-completions shape ``{"type": "function", "function":
    {"name", "description", "parameters", "strict"}}``."""
    server_tools: list[dict[str, Any]] = field(default_factory=list)
    """The client's entries for server-side tools (``{"type": "file_search", ...}``)."""
    tool_choice: Any = None  # chat-completions shape
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    response_format: dict[str, Any] | None = None  # chat-completions shape
    reasoning_effort: str | None = None
    max_output_tokens: int | None = None
    """Budget over the whole run (all turns); exceeding it ends the run ``incomplete``."""
    max_prompt_tokens: int | None = None
    truncation: tuple[str, int | None] = ("auto", None)
    """``("auto", None)``, ``("disabled", None)`` or ``("last_messages", n)``."""
    tool_resources: dict[str, Any] = field(default_factory=dict)
    user: str | None = None


class RunScope:
    """A run being changed: its current row, queued writes and its event log cursor."""

    def __init__(
        self,
        services: Services,
        run: RunRow,
        *,
        next_n: int,
        bus: EventBus | None = None,
        owner: str | None = None,
    ) -> None:
        self.services = services
        self.run = run
        self.owner = owner
        self.usage: Usage = ZERO_USAGE
        self.bus = bus
        self._next_n = next_n
        self._events: list[dict[str, Any]] = []
        self._held: list[Event] = []
        self._writes: list[Executable | tuple[Table, dict[str, Any]]] = []
        self._run_changes: dict[str, Any] = {}

    @property
    def run_id(self) -> str:
        run_id: str = self.run["id"]
        return run_id

    @property
    def status(self) -> str:
        status: str = self.run["status"]
        return status

    @staticmethod
    def now() -> int:
        return int(time.time())

    @property
    def next_n(self) -> int:
        """The number the next emitted event gets (numbers start at 1 per run)."""
        return self._next_n

    def emit(self, event: str, data: Any) -> None:
        """Append one SSE event; ``data`` is JSON-encoded here (``str`` is kept as is). The
        ``done`` that ends a stream segment reaches subscribers only once committed
        (``publish_committed``): a client whose stream ended reads what the run wrote."""
        text = data if isinstance(data, str) else orjson.dumps(data).decode()
        n = self._next_n
        self._next_n += 1
        self._events.append({"run_id": self.run_id, "n": n, "event": event, "data": text})
        if self.bus is not None:
            if event == DONE:
                self._held.append((n, event, text))
            else:
                self.bus.publish(self.run_id, n, event, text)

    def publish_committed(self) -> None:
        """After the commit of a flush: publish the events held back until then."""
        held, self._held = self._held, []
        if self.bus is not None:
            for n, event, text in held:
                self.bus.publish(self.run_id, n, event, text)

    def pending_events(self) -> list[Event]:
        """The events emitted since the last flush, as ``(n, event, data)``."""
        return [(e["n"], e["event"], e["data"]) for e in self._events]

    def end_stream(self) -> None:
        """End the current stream segment (the run finished or paused)."""
        self.emit(DONE, "[DONE]")

    def write(self, stmt: Executable) -> None:
        """Queue a statement for the next flush, executed in queue order."""
        self._writes.append(stmt)

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        """Queue a row insert for the next flush (in queue order with ``write``; consecutive
        rows of one table go in one statement). The row is copied: later changes to the dict
        are not written."""
        self._writes.append((table, dict(row)))

    def update_run(self, **changes: Any) -> None:
        """Change run columns (by column name) in memory now and in the store at the flush."""
        self.run.update(changes)
        self._run_changes.update(changes)

    def set_status(self, new: str, **changes: Any) -> None:
        """Move the run through the status table (illegal moves raise) plus other columns."""
        transition(self.status, new, object_name=self.run.get("kind", "run"))
        self.update_run(status=new, **changes)

    @property
    def dirty(self) -> bool:
        return bool(self._events or self._writes or self._run_changes)

    def flush(self, conn: Connection) -> bool:
        """Execute the run update, queued writes and event inserts in ``conn``'s transaction.
        If a lease owner was set and the run is no longer ours, it writes nothing: it returns
        False (the caller must roll back then), or on PostgreSQL the update raises
        ``store.checks.LEASE_LOST`` when the transaction's answers are collected, so the check
        costs no round trip of its own. The update goes first: the inserts after
        it are held and written together with the commit on PostgreSQL (``store.bulk``)."""
        if self._run_changes:
            columns, owned = tuple(self._run_changes), self.owner is not None
            params = {f"v_{k}": v for k, v in self._run_changes.items()}
            params["p_id"] = self.run_id
            if owned:
                params["p_owner"] = self.owner
            if owned and conn.dialect.name == "postgresql":  # raises LEASE_LOST at the commit
                conn.execute(_checked_run_update(columns), params)
            elif conn.execute(_run_update(columns, owned), params).rowcount != 1:
                return False
        for target, rows in _batches(self._writes):
            if rows:
                insert_rows(conn, target, rows)
            else:
                conn.execute(target)
        insert_rows(conn, RUN_EVENTS, self._events)
        announce(conn, self._events)  # other processes' readers wake at the commit
        self.clear()
        return True

    def clear(self) -> None:
        self._writes = []
        self._events = []
        self._run_changes = {}


def _batches(
    writes: list[Executable | tuple[Table, dict[str, Any]]],
) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """Queued writes in order: ``(statement, [])`` or ``(table, rows)`` for consecutive rows
    of one table with the same columns."""
    table: Table | None = None
    rows: list[dict[str, Any]] = []
    for write in writes:
        if isinstance(write, tuple):
            if write[0] is table and rows and write[1].keys() == rows[0].keys():
                rows.append(write[1])
                continue
            if rows:
                yield table, rows
            table, rows = write[0], [write[1]]
            continue
        if rows:
            yield table, rows
            table, rows = None, []
        yield write, []
    if rows:
        yield table, rows


@cache
def _checked_run_update(columns: tuple[str, ...]) -> Executable:
    """PostgreSQL: the owned run update as a check (``store.checks``) that raises
    ``LEASE_LOST`` when it changes no row: no round trip to read a row count."""
    changed = _run_update(columns, owned=True).returning(RUNS.c.id).cte("changed")
    return unless(
        exists(select(changed.c.id)), LEASE_LOST, "the run is no longer held by this worker"
    )


@cache
def _run_update(columns: tuple[str, ...], owned: bool) -> Update:
    """The run update for a set of changed columns, built once (values go as parameters)."""
    stmt = (
        update(RUNS)
        .where(RUNS.c.id == bindparam("p_id"))
        .values({c: bindparam(f"v_{c}") for c in columns})
    )
    if owned:
        stmt = stmt.where(RUNS.c.lease_owner == bindparam("p_owner"))
    return stmt


class RunAdapter(ABC):
    """The hooks of one protocol. One instance serves one claim of one run."""

    kind: ClassVar[str]
    """The ``runs.kind`` this adapter serves: ``"run"`` or ``"response"``."""

    def __init__(self, scope: RunScope) -> None:
        self.scope = scope

    @abstractmethod
    def plan(self) -> RunPlan:
        """How to call the model for this run (from ``self.scope.run``)."""

    @abstractmethod
    def context_items(self, conn: Connection) -> list[dict[str, Any]]:
        """The items (column dicts of ``items`` rows, oldest first) the model sees, before
        instructions; ``engine.context`` turns them into chat messages and truncates."""

    @abstractmethod
    def begin(self, resumed: bool) -> None:
        """The run was claimed and is ``in_progress``. ``resumed`` is True when it continues
        after client tool outputs (the outputs are already stored as items)."""

    @abstractmethod
    def message_started(self) -> None:
        """The model began writing text."""

    @abstractmethod
    def text_delta(self, text: str) -> None:
        """A piece of the text."""

    def reasoning_delta(self, text: str) -> None:  # noqa: B027 - optional hook
        """A piece of the model's reasoning, if the provider exposes it."""

    @abstractmethod
    def message_done(
        self,
        text: str,
        annotations: list[dict[str, Any]],
        usage: Usage,
        incomplete: str | None,
    ) -> None:
        """The text is complete, or cut short: ``incomplete`` is then the reason, one of
        ``max_tokens``, ``content_filter``, ``run_cancelled``, ``run_failed``, ``run_expired``.
        ``usage`` is the model turn's usage (zero when tool calls follow in the same turn)."""

    @abstractmethod
    def tool_calls_made(self, calls: list[ToolCall], usage: Usage) -> None:
        """The model called tools in this turn; ``call.server`` tells homeport-run tools from
        client function calls."""

    @abstractmethod
    def tool_results(self, outcomes: list[ToolOutcome]) -> None:
        """Server-side tools of this turn ran; record outputs (what the model sees next)."""

    @abstractmethod
    def requires_action(self, calls: list[ToolCall]) -> None:
        """Client function calls are pending: set the run's paused state and end the stream
        segment (Assistants: ``requires_action``). A protocol without a pause (Responses)
        finishes the run here instead."""

    @abstractmethod
    def finish(
        self,
        status: str,
        *,
        usage: Usage | None = None,
        error: dict[str, Any] | None = None,
        incomplete_details: dict[str, Any] | None = None,
    ) -> None:
        """Move to a terminal ``status`` (completed, failed, cancelled, expired, incomplete),
        close any open step, emit the final events and end the stream. ``usage`` is the whole
        run's; ``incomplete_details["reason"]`` is ``max_output_tokens``,
        ``max_prompt_tokens`` or ``content_filter`` (each protocol names them its own way)."""


ADAPTER_MODULES = {
    "run": "homeport.engine.assistants_adapter",
    "response": "homeport.engine.responses_adapter",
}
"""Where the adapter of each run kind lives; each module exposes ``Adapter``."""


def adapter_class(kind: str) -> type[RunAdapter]:
    import importlib

    cls: type[RunAdapter] = importlib.import_module(ADAPTER_MODULES[kind]).Adapter
    return cls
