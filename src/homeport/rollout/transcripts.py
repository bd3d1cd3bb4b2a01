"""Transcripts of conversations on homeport, and their replay on the managed side (official SDK).

Two kinds, one shape (:class:`Transcript`): an Assistants thread (messages, user and assistant
roles, attachments and metadata kept) and a Responses conversation (message, function call and
function call output items). The managed side assigns its own IDs, so ``append`` returns them in
order for the ID map. What a managed platform cannot take as input (annotations, reasoning and
hosted-tool call items) is left out and counted as ``skipped``. ``at_home`` names what is not
recreated (a thread's runs): requests naming it stay on homeport.

A third kind, :class:`ChainTranscript`, is a Responses chain linked by ``previous_response_id``
alone: there is no container to create, so the whole transcript (every response's input and
output items, oldest first) becomes the input of one stored response on the managed side that
carries the chain on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import openai
from openai.types.responses import ResponseCreatedEvent, ResponseStreamEvent

ACTIVE_RUN = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
PAGE = 100


@dataclass(frozen=True)
class Source:
    """A conversation as homeport holds it: what a new container needs, and its entries in order
    as ``(homeport ID, the body that recreates it)``."""

    container: dict[str, Any]
    entries: list[tuple[str, dict[str, Any]]]
    skipped: int


@dataclass(frozen=True)
class Drained:
    waited: int  # runs that were active when the evacuation came
    cancelled: int  # of those, runs cancelled after the wait


class RunsStillActive(Exception):
    """Runs on homeport did not stop in time; the conversation stays there for now."""


class Transcript(Protocol):
    kind: str  # the pin kind: "thread" | "conversation"
    entry_kind: str  # "message" | "item"
    batch: int  # entries appended per call

    def read(self, key: str) -> Source: ...

    def create(self, source: Source) -> str:
        """A new, empty container on the managed side; its ID."""
        ...

    def existing(self, target: str) -> list[str]:
        """The managed container's entry IDs, oldest first."""
        ...

    def append(self, target: str, bodies: list[dict[str, Any]]) -> list[str]:
        """Append entries to the managed container; their new IDs, in order."""
        ...

    def drain(self, key: str, wait_seconds: float, poll_seconds: float) -> Drained:
        """Let work in progress on homeport finish (bounded), cancelling what outlives the wait."""
        ...

    def at_home(self, key: str) -> list[str]:
        """IDs of objects made in the conversation that are not recreated on the managed side."""
        ...


def _dump(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(exclude_none=True))


def _message_part(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part["text"]["value"]}
    if kind in ("image_file", "image_url"):
        return {"type": kind, kind: part[kind]}
    return None


class ThreadTranscript:
    kind, entry_kind, batch = "thread", "message", 1

    def __init__(self, homeport: openai.OpenAI, managed: openai.OpenAI) -> None:
        self.homeport = homeport
        self.managed = managed

    def read(self, key: str) -> Source:
        thread = self.homeport.beta.threads.retrieve(key)
        entries, skipped = [], 0
        for message in self.homeport.beta.threads.messages.list(key, order="asc", limit=PAGE):
            data = _dump(message)
            parts = [p for p in map(_message_part, data.get("content", [])) if p is not None]
            if not parts:
                skipped += 1
                continue
            body: dict[str, Any] = {"role": data["role"], "content": parts}
            if data.get("attachments"):
                body["attachments"] = data["attachments"]
            if data.get("metadata"):
                body["metadata"] = data["metadata"]
            entries.append((message.id, body))
        container = {
            k: v for k, v in _dump(thread).items() if k in ("metadata", "tool_resources") and v
        }
        return Source(container, entries, skipped)

    def create(self, source: Source) -> str:
        return self.managed.beta.threads.create(**source.container).id

    def existing(self, target: str) -> list[str]:
        pages = self.managed.beta.threads.messages.list(target, order="asc", limit=PAGE)
        return [m.id for m in pages]

    def append(self, target: str, bodies: list[dict[str, Any]]) -> list[str]:
        return [self.managed.beta.threads.messages.create(target, **b).id for b in bodies]

    def drain(self, key: str, wait_seconds: float, poll_seconds: float) -> Drained:
        runs = self.homeport.beta.threads.runs
        waited: set[str] = set()
        cancelled: set[str] = set()
        deadline = time.monotonic() + wait_seconds
        while True:
            active = [r for r in runs.list(key, limit=PAGE).data if r.status in ACTIVE_RUN]
            if not active:
                return Drained(len(waited), len(cancelled))
            waited |= {r.id for r in active}
            if time.monotonic() >= deadline:
                if cancelled >= {r.id for r in active}:
                    raise RunsStillActive(
                        f"runs {', '.join(sorted(r.id for r in active))} on thread {key} did not "
                        f"stop within {wait_seconds:g} s of being cancelled"
                    )
                for run in active:
                    if run.status != "cancelling" and run.id not in cancelled:
                        runs.cancel(run.id, thread_id=key)
                    cancelled.add(run.id)
                deadline = time.monotonic() + wait_seconds  # cancelling gets its own bound
            time.sleep(poll_seconds)

    def at_home(self, key: str) -> list[str]:
        return [r.id for r in self.homeport.beta.threads.runs.list(key, limit=PAGE)]


def _item_body(item: dict[str, Any]) -> dict[str, Any] | None:
    kind = item.get("type")
    if kind == "message":
        parts = item.get("content") or []
        if item.get("role") == "assistant":  # an assistant message goes back as plain text
            text = "".join(p.get("text") or p.get("refusal") or "" for p in parts)
            return {"type": "message", "role": "assistant", "content": text}
        keep = ("type", "text", "image_url", "file_id", "detail", "filename", "file_url")
        content = [{k: v for k, v in p.items() if k in keep} for p in parts]
        return {"type": "message", "role": item["role"], "content": content}
    if kind == "function_call":
        return {k: item[k] for k in ("type", "call_id", "name", "arguments")}
    if kind == "function_call_output":
        return {k: item[k] for k in ("type", "call_id", "output")}
    return None


class ConversationTranscript:
    kind, entry_kind, batch = "conversation", "item", 20

    def __init__(self, homeport: openai.OpenAI, managed: openai.OpenAI) -> None:
        self.homeport = homeport
        self.managed = managed

    def read(self, key: str) -> Source:
        conversation = self.homeport.conversations.retrieve(key)
        entries, skipped = [], 0
        for item in self.homeport.conversations.items.list(key, order="asc", limit=PAGE):
            body = _item_body(_dump(item))
            if body is None:
                skipped += 1
                continue
            entries.append((str(item.id), body))
        container = {"metadata": conversation.metadata} if conversation.metadata else {}
        return Source(container, entries, skipped)

    def create(self, source: Source) -> str:
        return self.managed.conversations.create(**source.container).id

    def existing(self, target: str) -> list[str]:
        pages = self.managed.conversations.items.list(target, order="asc", limit=PAGE)
        return [str(i.id) for i in pages]

    def append(self, target: str, bodies: list[dict[str, Any]]) -> list[str]:
        created = self.managed.conversations.items.create(target, items=bodies)  # type: ignore[arg-type]
        return [str(i.id) for i in created.data]

    def drain(self, key: str, wait_seconds: float, poll_seconds: float) -> Drained:
        # The Responses API lists no responses by conversation: items are copied as they stand,
        # and items added until every replica follows the move are copied after it.
        return Drained(0, 0)

    def at_home(self, key: str) -> list[str]:
        return []  # its responses stay readable on homeport through their own pins


CARRIER_INSTRUCTIONS = (
    "This conversation has moved to a new server. Reply with the single word OK; the user's "
    "next message follows."
)


class ChainTranscript:
    """A response chain: its transcript, and the managed response that carries it on.

    The carrier's own answer (asked to be a bare "OK", at most 16 tokens) follows the transcript
    in the chain's history on the managed side: one short assistant turn the client never saw.
    """

    kind = "response"

    def __init__(self, homeport: openai.OpenAI, managed: openai.OpenAI) -> None:
        self.homeport = homeport
        self.managed = managed

    def read(self, last: str) -> Source:
        """The chain ending at ``last``: entries are ``(response ID, item body)``."""
        chain = []
        current: str | None = last
        while current:
            response = self.homeport.responses.retrieve(current)
            chain.append(response)
            current = response.previous_response_id
        entries: list[tuple[str, dict[str, Any]]] = []
        skipped = 0
        for response in reversed(chain):
            given = self.homeport.responses.input_items.list(response.id, order="asc", limit=PAGE)
            for item in [*given, *response.output]:
                body = _item_body(_dump(item))
                if body is None:
                    skipped += 1
                else:
                    entries.append((response.id, body))
        newest = chain[0]
        container: dict[str, Any] = {"model": newest.model}
        if newest.tools:
            container["tools"] = [_dump(t) for t in newest.tools]
            container["tool_choice"] = "none"
        return Source(container, entries, skipped)

    def carry(self, source: Source, named: Callable[[str], None] | None = None) -> str:
        """A stored response on the managed side whose history is the transcript; its ID.

        Streamed, so the ID is known (and told to ``named``) as soon as the managed side has
        made the response, before its answer: a caller that stops meanwhile has a record of it.
        """
        stream = self.managed.responses.create(
            input=[body for _, body in source.entries],  # type: ignore[misc]
            instructions=CARRIER_INSTRUCTIONS,
            max_output_tokens=16,
            store=True,
            stream=True,
            **source.container,
        )
        carrier: str | None = None
        # (``container`` hides which overload answers: a stream, asked for above)
        with cast(openai.Stream[ResponseStreamEvent], stream) as events:
            for event in events:
                if isinstance(event, ResponseCreatedEvent):
                    carrier = event.response.id
                    if named is not None:
                        named(carrier)
        if carrier is None:
            raise ValueError("the managed side's answer named no response")
        return carrier
