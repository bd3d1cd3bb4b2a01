"""The wire between the proxy process and its shadow worker process.

Down (proxy -> worker, the worker's stdin): one frame per finished exchange to mirror,
``!III`` (lengths of the metadata, the request body, the primary's answer body), the metadata as
JSON, then the two bodies as they are (no copy into JSON, no base64). Encoding a frame is the
proxy's whole share of the shadow work. A tool-output submit also carries the client's
credentials (kept apart from the recorded request: never in a pair), for the worker's one
fallback read of the primary's run when that run's calls were not learned (``shadow``).

Up (worker -> proxy, the worker's stdout): what was gathered since the last send
(``REPORT_SECONDS``) as lines of JSON arrays of up to ``RECORDS_PER_LINE`` records, which the
proxy turns into its Prometheus metrics and side-stats windows (the worker has no registry of its
own). Many records a line, not one: a line read and parsed per copy was 5 % of the proxy's CPU in
shadow mode (2.4 % now); a bounded line stays within the proxy's reader's 64 KiB line limit.
``["o", route, status, seconds, ttft, input_tokens, output_tokens]`` a candidate's answer,
``["d", reason, n]`` copies dropped, ``["w", "", n]`` pairs written, ``["l", reason, n]`` pairs
lost, ``["f", "", n]`` fallback reads of the managed side, ``["t", "side/outcome", n]`` renewed
TLS files taken or refused by the worker's connections, ``["q", depth]`` the queue depth.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from homeport.gateway.metrics import GatewayMetrics
from homeport.gateway.seams import CapturedRequest, CapturedResponse, Headers, Role, Upstream
from homeport.tls import Reload

_LENGTHS = struct.Struct("!III")
HEADER_SIZE = _LENGTHS.size
RECORDS_PER_LINE = 256  # a record is under 100 bytes


@dataclass(frozen=True, slots=True)
class Handoff:
    """One exchange the primary answered, with what the proxy knew about its conversation."""

    request: CapturedRequest
    primary: CapturedResponse
    phase: str
    conversation: str | None  # the conversation key (pin's conversation, or the client's key)
    after: str | None  # the existing object the request refers to
    also_produces: str | None  # a conversation a new response is added to
    shadowed: bool  # ``after`` was created while shadowing: its copy is (or was) on its way
    # The client's, for a submit's fallback read of the primary's run (never shown).
    credentials: Headers = field(repr=False)


def encode(
    *,
    method: str,
    path: str,
    query: str,
    headers: Headers,
    body: bytes,
    primary: CapturedResponse,
    phase: str,
    conversation: str | None,
    after: str | None,
    also_produces: str | None,
    shadowed: bool,
    credentials: Headers,
) -> bytes:
    meta = orjson.dumps(
        (
            method,
            path,
            query,
            headers,
            primary.upstream.value,
            primary.status,
            primary.headers,
            primary.started_at,
            primary.ttft_seconds,
            primary.total_seconds,
            primary.streamed,
            phase,
            conversation,
            after,
            also_produces,
            shadowed,
            credentials,
        )
    )
    return b"".join(
        (_LENGTHS.pack(len(meta), len(body), len(primary.body)), meta, body, primary.body)
    )


def body_sizes(header: bytes) -> int:
    """The size of the rest of a frame, from its header."""
    meta, request, answer = _LENGTHS.unpack(header)
    return int(meta + request + answer)


def decode(header: bytes, rest: bytes) -> Handoff:
    sizes = _LENGTHS.unpack(header)
    meta, body, answer = (
        rest[: sizes[0]],
        rest[sizes[0] : sizes[0] + sizes[1]],
        rest[sizes[0] + sizes[1] :],
    )
    (
        method,
        path,
        query,
        headers,
        upstream,
        status,
        answer_headers,
        started_at,
        ttft,
        total,
        streamed,
        phase,
        conversation,
        after,
        also_produces,
        shadowed,
        credentials,
    ) = orjson.loads(meta)
    request = CapturedRequest(method, path, query, tuple(map(tuple, headers)), body)
    primary = CapturedResponse(
        upstream=Upstream(upstream),
        status=status,
        headers=tuple(map(tuple, answer_headers)),
        body=answer,
        error=None,
        started_at=started_at,
        ttft_seconds=ttft,
        total_seconds=total,
        streamed=streamed,
    )
    return Handoff(
        request,
        primary,
        phase,
        conversation,
        after,
        also_produces,
        shadowed,
        tuple(map(tuple, credentials)),
    )


class Reports:
    """The worker's side of the up channel: observations gathered between two sends (counts
    summed, the queue depth as last seen), then taken as lines."""

    def __init__(self) -> None:
        self._answers: list[tuple[object, ...]] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._depth: int | None = None

    def observed(
        self,
        route: str,
        status: int | None,
        seconds: float,
        ttft: float | None,
        input_tokens: int,
        output_tokens: int,
    ) -> None:
        self._answers.append(("o", route, status, seconds, ttft, input_tokens, output_tokens))

    def _count(self, kind: str, reason: str, count: int) -> None:
        self._counts[(kind, reason)] = self._counts.get((kind, reason), 0) + count

    def dropped(self, reason: str, count: int = 1) -> None:
        self._count("d", reason, count)

    def written(self, count: int) -> None:
        self._count("w", "", count)

    def lost(self, reason: str, count: int) -> None:
        self._count("l", reason, count)

    def fallback_read(self) -> None:
        self._count("f", "", 1)

    def tls_reload(self, side: Upstream) -> Callable[[Reload], None]:
        """Counts a side's renewed TLS files taken or refused in the worker (its sides'
        ``on_tls_reload``), for the proxy's ``tls_reloads_total``."""
        return lambda outcome: self._count("t", f"{side.value}/{outcome}", 1)

    def depth(self, depth: int) -> None:
        self._depth = depth

    def take(self) -> bytes:
        """The lines of what was gathered since the last take; empty when nothing was."""
        records, self._answers = self._answers, []
        records += ((kind, reason, count) for (kind, reason), count in self._counts.items())
        self._counts = {}
        if self._depth is not None:
            records.append(("q", self._depth))
            self._depth = None
        return b"".join(
            orjson.dumps(records[at : at + RECORDS_PER_LINE]) + b"\n"
            for at in range(0, len(records), RECORDS_PER_LINE)
        )


def apply(metrics: GatewayMetrics, line: bytes) -> None:
    """Turn one report line into the proxy's metrics."""
    for record in orjson.loads(line):
        _apply_record(metrics, record)


def _apply_record(metrics: GatewayMetrics, record: list[Any]) -> None:
    kind, *values = record
    if kind == "o":
        route, status, seconds, ttft, given, made = values
        metrics.observe(
            side=Upstream.HOMEPORT,
            role=Role.SHADOW,
            route=route,
            status=status,
            seconds=seconds,
            ttft=ttft,
            input_tokens=given,
            output_tokens=made,
        )
    elif kind == "d":
        metrics.shadow_dropped.labels(values[0]).inc(values[1])
    elif kind == "q":
        metrics.shadow_queue.set(values[0])
    elif kind == "w":
        metrics.pairs_written.inc(values[1])
    elif kind == "l":
        metrics.pairs_dropped.labels(values[0]).inc(values[1])
    elif kind == "f":
        metrics.shadow_fallback_reads.inc(values[1])
    elif kind == "t":
        side, outcome = values[0].split("/")
        metrics.tls_reloads.labels(side, outcome).inc(values[1])
