"""The two seams between the gateway and the rollout/compare side. Keep them stable.

(a) **Answer pairs.** In shadow mode the gateway captures what the primary side answered the
client and what the other side answered the same request, as one :class:`ShadowPair`. Pairs go
into a bounded queue in the shadow worker process (full queue: the pair is dropped and counted,
never waited for) and one drain task hands them in batches to a :class:`PairSink`. The compare
side implements the sink that persists pairs to its comparison-records table and names it in
:data:`STORE_SINK_FACTORY`; the gateway only calls ``await sink.write(batch)``.

(b) **Routing state.** Every replica reads the rollout's current mode, weight and phase through a
:class:`RoutingSource` (the rollout side implements the store-backed one and names it in
:data:`STORE_ROUTING_FACTORY`). The gateway calls ``read()`` off the event loop every
``refresh_seconds`` (1 s by default) and serves from the last value, so replicas agree through the
database within one refresh, without talking to each other. In the other direction, each replica
writes its per-side counters as :class:`SideStats` rows every ``stats_seconds``;
``homeport.gateway.sidestats.read_side_stats`` returns them for the rollout's gates.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import orjson

from homeport.metrics import LATENCY_BUCKETS

STORE_SINK_FACTORY = "homeport.compare.records:store_sink"
"""``module:callable`` taking ``(Database, gateway_name: str)`` and returning a :class:`PairSink`
(pairs are stored under the gateway's rollout)."""

STORE_ROUTING_FACTORY = "homeport.rollout.state:store_routing"
"""``module:callable`` taking ``(Database, gateway_name: str)`` and returning a RoutingSource."""


class Upstream(StrEnum):
    """The two sides the gateway sends traffic to."""

    MANAGED = "managed"
    HOMEPORT = "homeport"

    @property
    def other(self) -> Upstream:
        return Upstream.HOMEPORT if self is Upstream.MANAGED else Upstream.MANAGED


class Mode(StrEnum):
    """How the gateway routes.

    - ``passthrough``: every request to the managed side.
    - ``shadow``: the client is served by the managed side; model calls are mirrored to homeport
      in the background and both answers become a :class:`ShadowPair`.
    - ``canary``: new conversations go to homeport with probability ``weight`` (salted hash);
      existing conversations stay where their pin says.
    - ``full``: new conversations and unpinned legacy IDs go to homeport; pins still win.
    """

    PASSTHROUGH = "passthrough"
    SHADOW = "shadow"
    CANARY = "canary"
    FULL = "full"


# --------------------------------------------------------------------------- (a) answer pairs


def _body_to_json(body: bytes) -> dict[str, str]:
    try:
        return {"text": body.decode()}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode()}


def _body_from_json(data: dict[str, str]) -> bytes:
    if "text" in data:
        return data["text"].encode()
    return base64.b64decode(data["base64"])


Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class CapturedRequest:
    """One HTTP request as sent to one side; credentials and hop-by-hop headers removed."""

    method: str
    path: str  # "/v1/responses", without the query string
    query: str  # raw query string, "" when none
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": [list(h) for h in self.headers],
            "body": _body_to_json(self.body),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CapturedRequest:
        return cls(
            method=data["method"],
            path=data["path"],
            query=data["query"],
            headers=tuple((k, v) for k, v in data["headers"]),
            body=_body_from_json(data["body"]),
        )


@dataclass(frozen=True, slots=True)
class CapturedResponse:
    """One side's whole answer. For SSE, ``body`` is the raw event stream as received.

    ``status`` is None when no HTTP answer came (connection refused, timeout, dropped); then
    ``error`` says why. Times are seconds; ``ttft_seconds`` is the first body byte (for SSE, the
    first event) after ``started_at``.
    """

    upstream: Upstream
    status: int | None
    headers: Headers
    body: bytes
    error: str | None
    started_at: float  # unix seconds
    ttft_seconds: float | None
    total_seconds: float
    streamed: bool

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error is None

    def json(self) -> Any:
        """The JSON body (non-streamed answers)."""
        return orjson.loads(self.body) if self.body else None

    def events(self) -> list[Any]:
        """The ``data:`` payloads of an SSE body, parsed as JSON ("[DONE]" left out)."""
        found: list[Any] = []
        for line in self.body.splitlines():
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                if payload and payload != b"[DONE]":
                    found.append(orjson.loads(payload))
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "upstream": self.upstream.value,
            "status": self.status,
            "headers": [list(h) for h in self.headers],
            "body": _body_to_json(self.body),
            "error": self.error,
            "started_at": self.started_at,
            "ttft_seconds": self.ttft_seconds,
            "total_seconds": self.total_seconds,
            "streamed": self.streamed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CapturedResponse:
        return cls(
            upstream=Upstream(data["upstream"]),
            status=data["status"],
            headers=tuple((k, v) for k, v in data["headers"]),
            body=_body_from_json(data["body"]),
            error=data["error"],
            started_at=data["started_at"],
            ttft_seconds=data["ttft_seconds"],
            total_seconds=data["total_seconds"],
            streamed=data["streamed"],
        )


@dataclass(frozen=True, slots=True)
class ShadowPair:
    """The primary's answer to a request and the other side's answer to the same request.

    ``side`` is the upstream that served the client (the primary; ``candidate.upstream`` is the
    other one). ``candidate_request`` is what was really sent to the candidate: the same request
    with the candidate's own IDs where the gateway rewrote them (tool-call IDs of replayed tool
    outputs). ``conversation_key`` groups the turns of one conversation (thread, conversation or
    first response ID of a chain; the client's ``homeport-conversation-key`` for stateless calls;
    None when there is none).
    """

    pair_id: str
    created_at: float
    mode: Mode
    phase: str
    conversation_key: str | None
    side: Upstream
    request: CapturedRequest
    candidate_request: CapturedRequest
    primary: CapturedResponse
    candidate: CapturedResponse

    def to_dict(self) -> dict[str, Any]:
        return {
            "pair_id": self.pair_id,
            "created_at": self.created_at,
            "mode": self.mode.value,
            "phase": self.phase,
            "conversation_key": self.conversation_key,
            "side": self.side.value,
            "request": self.request.to_dict(),
            "candidate_request": self.candidate_request.to_dict(),
            "primary": self.primary.to_dict(),
            "candidate": self.candidate.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShadowPair:
        return cls(
            pair_id=data["pair_id"],
            created_at=data["created_at"],
            mode=Mode(data["mode"]),
            phase=data["phase"],
            conversation_key=data["conversation_key"],
            side=Upstream(data["side"]),
            request=CapturedRequest.from_dict(data["request"]),
            candidate_request=CapturedRequest.from_dict(data["candidate_request"]),
            primary=CapturedResponse.from_dict(data["primary"]),
            candidate=CapturedResponse.from_dict(data["candidate"]),
        )


class PairSink(Protocol):
    """Where answer pairs go. Called by one drain task, never on a client's request path."""

    async def write(self, pairs: Sequence[ShadowPair]) -> None:
        """Persist a batch (at most ``shadow.batch_size`` pairs) durably, or raise.

        A raised batch is logged, counted (``homeport_gateway_pairs_dropped{reason="sink"}``)
        and dropped: the sink must not block for long, blocking sinks run in a thread.
        """
        ...


# --------------------------------------------------------------------------- (b) routing state


@dataclass(frozen=True, slots=True)
class RoutingState:
    """What the rollout decided; the gateway only reads it.

    ``weight`` is the share (0..1) of NEW conversations sent to homeport in canary mode; raising
    it never moves an existing conversation (pins win). ``salt`` salts the assignment hash, so a
    new rollout draws a fresh split. ``version`` increases on every change. ``phase`` is the
    controller's own name for the step (carried into pairs, metrics and side stats).
    ``pins_epoch`` rises whenever an evacuation moves pins; a replica that sees it rise re-reads
    the pins changed since the epoch it knew (cached pins are otherwise never re-read).
    """

    mode: Mode
    weight: float = 0.0
    phase: str = ""
    salt: str = ""
    version: int = 0
    updated_at: float = 0.0
    pins_epoch: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"routing weight must be within 0..1, got {self.weight}")


class RoutingSource(Protocol):
    """Reads the current routing state. Blocking is fine: the gateway calls it in a thread."""

    def read(self) -> RoutingState | None:
        """The current state, or None when the rollout has none yet (the gateway then keeps its
        configured initial state)."""
        ...


# --------------------------------------------------------------------------- (b) side stats


class Role(StrEnum):
    """``served``: traffic whose answer went to a client; ``shadow``: mirrored traffic."""

    SERVED = "served"
    SHADOW = "shadow"


LATENCY_BOUNDS: tuple[float, ...] = LATENCY_BUCKETS
"""Upper bounds (seconds) of the latency and TTFT buckets in :class:`SideStats`; a last,
open-ended bucket follows."""


@dataclass(frozen=True, slots=True)
class SideStats:
    """One replica's counters for one side and role over one window (written every window).

    ``errors`` counts 5xx answers and transport failures (no answer, timeout); 4xx answers are the
    client's own mistakes and count only in ``requests``. Bucket tuples have
    ``len(LATENCY_BOUNDS) + 1`` counts (non-cumulative); ``ttft`` buckets cover streamed answers.
    """

    replica: str
    side: Upstream
    role: Role
    phase: str
    window_start: float
    window_seconds: float
    requests: int
    errors: int
    latency_buckets: tuple[int, ...]
    ttft_buckets: tuple[int, ...]
    input_tokens: int
    output_tokens: int
