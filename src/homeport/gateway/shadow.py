"""The shadow copy: fire-and-forget, bounded, with its own timeout.

After the primary has answered the client, the request is offered to a bounded queue (full:
dropped and counted; the client never waits). Worker tasks send it to the candidate with its own
timeout. Copies of one conversation run in order: each waits for the copy that created the object
it refers to, so the candidate holds the same thread, conversation or response chain (created with
the primary's IDs through ``homeport-object-id``; an ID map covers a candidate that assigns its
own). Model calls become :class:`ShadowPair` records for the comparators.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson

from homeport.gateway.classify import Route
from homeport.gateway.config import ShadowConfig
from homeport.gateway.metrics import GatewayMetrics
from homeport.gateway.objects import created_object
from homeport.gateway.pairs import DRAIN_SECONDS_ON_STOP, PairQueue
from homeport.gateway.replay import (
    Call,
    function_calls,
    match_calls,
    rewrite_tool_outputs,
    tool_output_ids,
)
from homeport.gateway.seams import (
    CapturedRequest,
    CapturedResponse,
    Mode,
    Role,
    RoutingState,
    ShadowPair,
    Upstream,
)
from homeport.gateway.upstream import Side, usage
from homeport.ids import new_id

log = logging.getLogger("homeport.gateway.shadow")

MEMORY = 100_000  # IDs remembered per map (call IDs, candidate IDs, broken conversations)
OBJECT_ID_HEADER = "homeport-object-id"
CREATED_AT_HEADER = "homeport-created-at"


@dataclass(slots=True)
class ShadowJob:
    route: Route
    request: CapturedRequest
    primary: CapturedResponse
    state: RoutingState
    conversation_key: str | None
    after: str | None  # the object the candidate must hold first
    produces: tuple[str, ...]  # primary IDs this copy creates (or extends) on the candidate
    object_id: str | None = None  # the primary's ID for the object this request creates
    created_at: int | None = None
    answer_id: str | None = None  # the primary's response or run this answer belongs to
    replies_to: str | None = None  # the earlier answer whose tool calls this request answers
    done: asyncio.Future[bool] = field(init=False)
    wait_for: asyncio.Future[bool] | None = field(init=False, default=None)


class _Bounded(OrderedDict[str, Any]):
    def remember(self, key: str, value: Any) -> None:
        self[key] = value
        if len(self) > MEMORY:
            self.popitem(last=False)


class ShadowDispatcher:
    def __init__(
        self, candidate: Side, config: ShadowConfig, metrics: GatewayMetrics, pairs: PairQueue
    ) -> None:
        self._candidate = candidate
        self._config = config
        self._metrics = metrics
        self._pairs = pairs
        self._queue: asyncio.Queue[ShadowJob] = asyncio.Queue(config.queue_size)
        self._tail: dict[str, asyncio.Future[bool]] = {}
        self._broken = _Bounded()  # primary IDs the candidate does not hold
        self._ids = _Bounded()  # primary ID -> candidate ID, when they differ
        self._calls = _Bounded()  # primary answer ID -> (primary calls, candidate calls)
        self._workers: list[asyncio.Task[None]] = []

    def submit(self, job: ShadowJob) -> None:
        """Queue a copy, or drop it when the queue is full. Never waits."""
        if self._queue.full():
            self._metrics.shadow_dropped.labels("queue_full").inc()
            for key in job.produces:
                self._broken.remember(key, True)
            return
        job.done = asyncio.get_running_loop().create_future()
        job.wait_for = self._tail.get(job.after) if job.after else None
        for key in job.produces:
            self._tail[key] = job.done
        self._queue.put_nowait(job)
        self._metrics.shadow_queue.set(self._queue.qsize())
        job.done.add_done_callback(lambda _: self._forget(job))

    def _forget(self, job: ShadowJob) -> None:
        for key in job.produces:
            if self._tail.get(key) is job.done:
                del self._tail[key]

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"gateway-shadow-{i}")
            for i in range(self._config.concurrency)
        ]

    async def stop(self) -> None:
        """Let queued copies finish (for ``DRAIN_SECONDS_ON_STOP`` at most), then stop."""
        try:
            await asyncio.wait_for(self._queue.join(), DRAIN_SECONDS_ON_STOP)
        except TimeoutError:
            log.warning("stopping with %d shadow copies unsent", self._queue.qsize())
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            self._metrics.shadow_queue.set(self._queue.qsize())
            try:
                ok = await self._run(job)
            except Exception:  # a bug in one copy must not stop the worker
                log.exception("shadow copy failed")
                ok = False
            if not ok:
                for key in job.produces:
                    self._broken.remember(key, True)
            if not job.done.done():
                job.done.set_result(ok)
            self._queue.task_done()

    async def _run(self, job: ShadowJob) -> bool:
        if job.wait_for is not None:
            try:
                ready = await asyncio.wait_for(
                    asyncio.shield(job.wait_for), self._config.timeout_seconds
                )
            except TimeoutError:
                ready = False
            if not ready:
                self._metrics.shadow_dropped.labels("conversation_not_mirrored").inc()
                return False
        if job.after is not None and job.after in self._broken:
            self._metrics.shadow_dropped.labels("conversation_not_mirrored").inc()
            return False
        if not job.primary.ok:
            return False  # nothing was created on the primary; do not create it on the candidate
        request = self._candidate_request(job)
        if request is None:
            self._metrics.shadow_dropped.labels("diverged").inc()
            return False
        extra: list[tuple[str, str]] = []
        if job.object_id is not None:
            extra.append((OBJECT_ID_HEADER, job.object_id))
            if job.created_at is not None:
                extra.append((CREATED_AT_HEADER, str(job.created_at)))
        try:
            answer = await asyncio.wait_for(
                self._candidate.fetch(request, tuple(extra)), self._config.timeout_seconds
            )
        except TimeoutError:
            answer = _timed_out(self._candidate.upstream, self._config.timeout_seconds)
        self._observe(job, answer)
        self._learn(job, answer)
        if job.route.model_call:
            self._pairs.offer(
                ShadowPair(
                    pair_id=new_id("pair"),
                    created_at=time.time(),
                    mode=Mode.SHADOW,
                    phase=job.state.phase,
                    conversation_key=job.conversation_key,
                    side=job.primary.upstream,
                    request=job.request,
                    candidate_request=request,
                    primary=job.primary,
                    candidate=answer,
                )
            )
        return answer.ok

    def _candidate_request(self, job: ShadowJob) -> CapturedRequest | None:
        """The request with the candidate's IDs; None when its tool calls diverged."""
        request = job.request
        path = "/".join(self._ids.get(part, part) for part in request.path.split("/"))
        body = request.body
        if request.method == "POST" and body[:1] == b"{":
            data = orjson.loads(body)
            changed = False
            for name in ("previous_response_id", "conversation"):
                value = data.get(name)
                if isinstance(value, str) and value in self._ids:
                    data[name], changed = self._ids[value], True
            answered = tool_output_ids(data)
            if answered:
                calls: tuple[list[Call], list[Call]] | None = self._calls.get(job.replies_to or "")
                mapping = match_calls(*calls) if calls else None
                if mapping is None or not set(answered) <= mapping.keys():
                    return None
                data, changed = rewrite_tool_outputs(data, mapping), True
            if changed:
                body = orjson.dumps(data)
        return CapturedRequest(request.method, path, request.query, request.headers, body)

    def _learn(self, job: ShadowJob, answer: CapturedResponse) -> None:
        """Remember the candidate's IDs and tool calls for the conversation's next copies."""
        if not answer.ok:
            return
        if job.object_id is not None:
            mine = created_object(answer.body, answer.streamed)
            theirs = created_object(job.primary.body, job.primary.streamed)
            if mine is not None and mine.id != job.object_id:
                self._ids.remember(job.object_id, mine.id)
            if mine and theirs and mine.thread_id and theirs.thread_id != mine.thread_id:
                self._ids.remember(theirs.thread_id or "", mine.thread_id)
        primary_calls = function_calls(job.primary)
        if primary_calls and job.answer_id is not None:
            self._calls.remember(job.answer_id, (primary_calls, function_calls(answer)))

    def _observe(self, job: ShadowJob, answer: CapturedResponse) -> None:
        given, made = usage(answer.body, answer.streamed) if answer.ok else (0, 0)
        self._metrics.observe(
            side=answer.upstream,
            role=Role.SHADOW,
            route=job.route.label,
            status=answer.status,
            seconds=answer.total_seconds,
            ttft=answer.ttft_seconds,
            input_tokens=given,
            output_tokens=made,
        )


def _timed_out(upstream: Upstream, seconds: float) -> CapturedResponse:
    return CapturedResponse(
        upstream=upstream,
        status=None,
        headers=(),
        body=b"",
        error=f"shadow timeout after {seconds:g} s",
        started_at=time.time() - seconds,
        ttft_seconds=None,
        total_seconds=seconds,
        streamed=False,
    )
