"""What a request is, from its method and path alone (no body parsing, no I/O).

The gateway routes by conversation: a thread, a conversation or a stored response named in the
path is looked up in the pins; requests that create one are assigned a side; shared objects
(assistants, files, vector stores) are written to both sides; the rest is stateless.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

SHARED_KINDS = {"assistants": "assistant", "files": "file", "vector_stores": "vector_store"}


class Scope(Enum):
    STATELESS = "stateless"  # no stored state: the mode (and a hash) picks the side
    CONVERSATION = "conversation"  # names an existing thread/conversation/response: its pin
    CREATE = "create"  # creates a thread/conversation/response: assign, then pin
    SHARED = "shared"  # an object both sides hold with the same ID


@dataclass(frozen=True, slots=True)
class Route:
    scope: Scope
    label: str  # for metrics: "chat.completions", "responses", "threads.runs", ...
    key: str | None = None  # the thread/conversation/response ID in the path
    creates: str | None = None  # pin kind of the object this request creates
    model_call: bool = False  # answered by a model: mirrored and compared in shadow mode
    shared_kind: str | None = None
    write: bool = False  # changes state (mirrored to the other side in shadow mode)


_STATELESS = Route(Scope.STATELESS, "other")
# The model calls' routes, made once (classified on every request).
_CHAT = Route(Scope.STATELESS, "chat.completions")
_CHAT_CALL = Route(Scope.STATELESS, "chat.completions", model_call=True)
_RESPONSES = Route(Scope.CREATE, "responses", creates="response")
_RESPONSES_CALL = Route(Scope.CREATE, "responses", creates="response", model_call=True, write=True)


def classify(method: str, path: str) -> Route:
    """Classify ``/v1/...`` requests; anything outside /v1 is stateless."""
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0] != "v1":
        return _STATELESS
    parts = parts[1:]
    head, n = parts[0], len(parts)
    post = method == "POST"
    if head == "chat" and parts[1:2] == ["completions"]:
        return _CHAT_CALL if post and n == 2 else _CHAT
    if head == "responses":
        if n == 1:
            # New or continuing (previous_response_id / conversation): the body decides.
            return _RESPONSES_CALL if post else _RESPONSES
        if parts[1].startswith("resp_"):
            return Route(Scope.CONVERSATION, "responses", key=parts[1], write=method != "GET")
        return Route(Scope.STATELESS, "responses")
    if head == "conversations":
        if n == 1:
            return Route(Scope.CREATE, "conversations", creates="conversation", write=post)
        return Route(Scope.CONVERSATION, "conversations", key=parts[1], write=method != "GET")
    if head == "threads":
        if n == 1 or parts[1] == "runs":
            # POST /threads and POST /threads/runs (create a thread and run it)
            run = n == 2
            return Route(
                Scope.CREATE,
                "threads.runs" if run else "threads",
                creates="thread",
                model_call=post and run,
                write=post,
            )
        tail = parts[2:]
        model_call = post and (
            tail == ["runs"]
            or (len(tail) == 3 and tail[0] == "runs" and tail[2] == "submit_tool_outputs")
        )
        label = "threads." + tail[0] if tail else "threads"
        return Route(
            Scope.CONVERSATION, label, key=parts[1], model_call=model_call, write=method != "GET"
        )
    if head in SHARED_KINDS:
        return Route(
            Scope.SHARED, head, shared_kind=SHARED_KINDS[head], write=method in ("POST", "DELETE")
        )
    return Route(Scope.STATELESS, head)
