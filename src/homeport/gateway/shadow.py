"""The shadow copy, in the shadow worker process: bounded, with its own timeout.

The proxy hands each finished exchange to its worker (``handoff``); here it waits in a bounded
queue (full: dropped and counted) for one of ``concurrency`` tasks that send it to the candidate
with its own timeout. Copies of one conversation run in order: on this worker each waits for the
copy that created the object it refers to; across replicas, a copy that refers to an object
created while shadowing waits (bounded) until that object's copy has left its row in the replay
maps (``replaymaps``, in the store), and every copy of a conversation write waits until no
earlier turn of the conversation is held by any worker (``turns``). The rows give the
candidate's own IDs (when it assigns its own) and both sides' function calls, so the client's
tool outputs are replayed into the candidate whichever replica they reach. Model calls become
:class:`ShadowPair` records.

A polled run's calls are learned by the copy of the poll answer that showed them; from the
moment its worker takes that answer, it leases the calls' IDs in the replay maps. When that copy
is lost (its handoff dropped, its worker killed), the tool outputs' copy learns them itself: once
no worker holds a lease on them and ``LEARN_GRACE_SECONDS`` have passed, it reads the primary's
run steps (one managed-side read, with the client's credentials, counted) and polls the
candidate's run. Leases are per call, not per run: a poll showing the run's next calls, queued
behind the tool outputs' copy, must not make that copy wait for it. A copy whose run (or
thread, or response) row is still missing after that grace, while no earlier turn of the
conversation is held anywhere, stops waiting: the copy that should have created it was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from homeport.errors import busy_thread
from homeport.gateway.classify import Route, classify
from homeport.gateway.config import ShadowConfig
from homeport.gateway.handoff import Handoff, Reports
from homeport.gateway.objects import created_object, creates_object
from homeport.gateway.pairs import DRAIN_SECONDS_ON_STOP, PairQueue
from homeport.gateway.replay import (
    function_calls,
    match_calls,
    rewrite_tool_outputs,
    step_function_calls,
    tool_output_ids,
)
from homeport.gateway.replaymaps import Entry, ReplayMaps, learning_key
from homeport.gateway.seams import (
    CapturedRequest,
    CapturedResponse,
    Headers,
    Mode,
    ShadowPair,
    Upstream,
)
from homeport.gateway.turns import Turn, TurnOrder
from homeport.gateway.upstream import Side, usage
from homeport.ids import new_id

log = logging.getLogger("homeport.gateway.shadow")

OBJECT_ID_HEADER = "homeport-object-id"
CREATED_AT_HEADER = "homeport-created-at"
LEARN_GRACE_SECONDS = 2.0  # a poll's handoff still on its way, before a worker leases its calls
LEASE_SECONDS = 5.0  # a lease on learning a call lapses this long after its last renewal
RENEW_SECONDS = 1.0  # how often a worker renews the leases it holds
STEPS_PAGE = 100  # run steps read by the fallback: the submitted step is among the newest


@dataclass(slots=True)
class ShadowJob:
    route: Route
    request: CapturedRequest
    data: dict[str, Any] | None  # the request's JSON body
    primary: CapturedResponse
    phase: str
    conversation_key: str | None
    after: str | None  # the object the candidate must hold first
    shadowed: bool  # ``after`` was created while shadowing: wait for its copy, wherever it runs
    produces: tuple[str, ...]  # primary IDs this copy creates (or extends) on the candidate
    object_id: str | None  # the primary's ID for the object this request creates
    created_at: int | None
    answer_id: str | None  # the primary's response or run this answer belongs to
    replies_to: str | None  # the earlier answer whose tool calls this request answers
    answered: tuple[str, ...]  # the primary's call IDs this request answers
    polled: bool  # a polled run's answer that asks for tool calls: learn both sides' calls
    learns: tuple[str, ...]  # the primary's call IDs a polled answer shows (leased meanwhile)
    submits: bool  # a run's tool outputs: may learn the calls it answers itself
    order_key: str | None  # the conversation whose turns run in the client's order
    at: float  # when the proxy took the request: the turn's place in that order
    credentials: Headers = field(repr=False)  # the client's (submits only), never recorded
    done: asyncio.Future[bool] = field(init=False)
    turn: Turn | None = field(init=False, default=None)  # held while queued or running
    wait_for: asyncio.Future[bool] | None = field(init=False, default=None)

    def refers_to(self) -> set[str]:
        """Primary IDs whose candidate twins this copy may need."""
        found = {k for k in (self.after, self.replies_to) if k}
        found.update(part for part in self.request.path.split("/") if "_" in part)
        for name in ("previous_response_id", "conversation"):
            value = (self.data or {}).get(name)
            if isinstance(value, str):
                found.add(value)
        return found


def job_of(handoff: Handoff) -> ShadowJob:
    """What the worker needs to know about one handed-off exchange."""
    request, primary = handoff.request, handoff.primary
    route = classify(request.method, request.path)
    created = (
        created_object(primary.body, primary.streamed)
        if creates_object(request.method, request.path)
        else None
    )
    object_id = created.id if created else None
    produces = [k for k in (object_id, handoff.after, handoff.also_produces) if k]
    if route.creates == "response":
        produces = [k for k in (object_id, handoff.also_produces) if k]
    parts = request.path.rstrip("/").split("/")
    submits = parts[-1] == "submit_tool_outputs"
    polled = request.method == "GET"  # the proxy hands off only run retrieves asking for tools
    data: dict[str, Any] | None = None
    if request.method == "POST" and request.body[:1] == b"{":
        try:
            data = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            data = None
    return ShadowJob(
        route=route,
        request=request,
        data=data,
        primary=primary,
        phase=handoff.phase,
        conversation_key=handoff.conversation or object_id,
        after=handoff.after,
        shadowed=handoff.shadowed,
        produces=tuple(produces),
        object_id=object_id,
        created_at=created.created_at if created else None,
        answer_id=parts[-2] if submits else parts[-1] if polled else object_id,
        replies_to=parts[-2] if submits else handoff.after,
        answered=tuple(tool_output_ids(data)),
        polled=polled,
        learns=tuple(c.id for c in function_calls(primary)) if polled else (),
        submits=submits,
        # The pin's conversation, as the proxy's pins name it: a new object's own ID.
        order_key=(handoff.conversation or object_id) if handoff.after else object_id,
        at=primary.started_at,
        credentials=handoff.credentials,
    )


class ShadowDispatcher:
    def __init__(
        self,
        primary: Side,
        candidate: Side,
        config: ShadowConfig,
        reports: Reports,
        pairs: PairQueue,
        maps: ReplayMaps,
        order: TurnOrder,
    ) -> None:
        self._primary = primary
        self._candidate = candidate
        self._config = config
        self._reports = reports
        self._pairs = pairs
        self._maps = maps
        self._order = order
        self._queue: asyncio.Queue[ShadowJob] = asyncio.Queue(config.queue_size)
        self._tail: dict[str, asyncio.Future[bool]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._marks: set[asyncio.Task[None]] = set()
        self._learning: dict[str, int] = {}  # calls whose polled copies are queued or running
        self._leased = asyncio.Event()  # a call to lease now
        self._leases: asyncio.Task[None] | None = None

    def submit(self, job: ShadowJob) -> None:
        """Queue a copy, or drop it when the queue is full. Never waits."""
        if self._queue.full():
            self._reports.dropped("queue_full")
            if not job.polled:  # a lost poll costs the tool outputs' copy a read, not the run
                task = asyncio.create_task(self._remember_broken(job.produces))
                self._marks.add(task)
                task.add_done_callback(self._marks.discard)
            return
        job.done = asyncio.get_running_loop().create_future()
        job.wait_for = self._tail.get(job.after) if job.after else None
        for key in job.produces:
            self._tail[key] = job.done
        if job.order_key is not None and job.produces and not job.polled:
            job.turn = self._order.hold(job.order_key, job.at)
        for call in job.learns:
            self._learning[call] = self._learning.get(call, 0) + 1
            self._leased.set()
        self._queue.put_nowait(job)
        self._reports.depth(self._queue.qsize())
        job.done.add_done_callback(lambda _: self._forget(job))

    def _forget(self, job: ShadowJob) -> None:
        for key in job.produces:
            if self._tail.get(key) is job.done:
                del self._tail[key]
        for call in job.learns:
            left = self._learning[call] - 1
            if left:
                self._learning[call] = left
            else:
                del self._learning[call]

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"gateway-shadow-{i}")
            for i in range(self._config.concurrency)
        ]
        self._leases = asyncio.create_task(self._hold_leases(), name="gateway-shadow-leases")
        self._order.start()

    async def _hold_leases(self) -> None:
        """Lease the calls this worker's polled copies learn (at once for a new one, then every
        ``RENEW_SECONDS``): submit copies on any replica wait for them rather than read them."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._leased.wait(), RENEW_SECONDS)
            self._leased.clear()
            if not self._learning:
                continue
            try:
                await asyncio.to_thread(self._maps.lease, list(self._learning), LEASE_SECONDS)
            except Exception as exc:  # the leases lapse: submit copies learn the calls themselves
                log.warning("leasing tool calls failed: %s", exc)

    async def stop(self) -> None:
        """Let queued copies finish (for ``DRAIN_SECONDS_ON_STOP`` at most), then stop."""
        try:
            await asyncio.wait_for(self._queue.join(), DRAIN_SECONDS_ON_STOP)
        except TimeoutError:
            log.warning("stopping with %d shadow copies unsent", self._queue.qsize())
        tasks = [*self._workers, *([self._leases] if self._leases else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *self._marks, return_exceptions=True)
        await self._order.stop()

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            self._reports.depth(self._queue.qsize())
            try:
                ok = await self._run(job)
                if not ok:
                    await self._remember_broken(job.produces)
            except Exception:  # a bug in one copy (or the store) must not stop the worker
                log.exception("shadow copy failed")
                ok = False
            if job.turn is not None:
                self._order.release(job.turn)
            if not job.done.done():
                job.done.set_result(ok)
            self._queue.task_done()

    async def _remember_broken(self, keys: tuple[str, ...]) -> None:
        """The candidate does not hold these: later turns (on any replica) are not mirrored."""
        if not keys:
            return
        try:
            await asyncio.to_thread(self._maps.write, {k: Entry(broken=True) for k in keys})
        except Exception as exc:  # the next turn then waits for its bound and gives up
            log.warning("recording unmirrored %s failed: %s", ", ".join(keys), exc)

    async def _run(self, job: ShadowJob) -> bool:
        if job.wait_for is not None:
            try:
                ready = await asyncio.wait_for(
                    asyncio.shield(job.wait_for), self._config.timeout_seconds
                )
            except TimeoutError:
                ready = False
            if not ready:
                self._reports.dropped("conversation_not_mirrored")
                return False
        if not job.primary.ok:  # nothing to copy; a refusal leaves both sides as they were
            return _refused(job.primary)
        if job.turn is not None and not await self._in_turn(job):
            self._reports.dropped("turn_order_timeout")
            return False
        known = await self._recall(job)
        if known is None:
            return False
        if job.polled and _calls_known(job, known):
            return True  # polled again: the calls of this step are already learned
        request = self._candidate_request(job, known)
        if request is None:
            self._reports.dropped("diverged")
            return False
        extra: list[tuple[str, str]] = []
        if job.object_id is not None:
            extra.append((OBJECT_ID_HEADER, job.object_id))
            if job.created_at is not None:
                extra.append((CREATED_AT_HEADER, str(job.created_at)))
        if job.polled:  # not the calls of a round the maps already hold for the candidate
            fetch = self._poll(request, _candidate_call_ids(known, job.answer_id))
        else:
            fetch = self._send(request, tuple(extra))
        try:
            answer = await asyncio.wait_for(fetch, self._config.timeout_seconds)
        except TimeoutError:
            answer = _timed_out(self._candidate.upstream, self._config.timeout_seconds)
        given, made = usage(answer.body, answer.streamed) if answer.ok else (0, 0)
        self._reports.observed(
            job.route.label, answer.status, answer.total_seconds, answer.ttft_seconds, given, made
        )
        if job.route.model_call:
            self._pairs.offer(
                ShadowPair(
                    pair_id=new_id("pair"),
                    created_at=time.time(),
                    mode=Mode.SHADOW,
                    phase=job.phase,
                    conversation_key=job.conversation_key,
                    side=job.primary.upstream,
                    request=job.request,
                    candidate_request=request,
                    primary=job.primary,
                    candidate=answer,
                )
            )
        learned = _learned(job, answer) if answer.ok else {}
        if learned:
            await asyncio.to_thread(self._maps.write, learned)
        return answer.ok

    async def _send(
        self, request: CapturedRequest, extra: tuple[tuple[str, str], ...]
    ) -> CapturedResponse:
        """The copy's answer. A candidate slower than the primary may still run the thread's
        previous run, and refuses a new message or run in OpenAI's words until it ends: the
        copy is sent again (50 ms doubling to 1 s; the caller's timeout bounds the wait)."""
        wait = pauses()
        while True:
            answer = await self._candidate.fetch(request, extra)
            if not _refused_as_busy(answer):
                return answer
            await asyncio.sleep(next(wait))

    async def _poll(
        self, request: CapturedRequest, stale: frozenset[str] = frozenset()
    ) -> CapturedResponse:
        """The candidate's run, re-read (50 ms doubling to 1 s) until it no longer runs, nor
        waits on ``stale`` calls: a previous round's, whose outputs another replica's copy may
        not have replayed yet (the caller's timeout bounds the wait)."""
        wait = pauses()
        while True:
            answer = await self._candidate.fetch(request)
            if not answer.ok:
                return answer
            status = answer.json().get("status")
            waiting_on = {c.id for c in function_calls(answer)} if stale else set()
            if status not in ("queued", "in_progress") and not (waiting_on and waiting_on <= stale):
                return answer
            await asyncio.sleep(next(wait))

    async def _in_turn(self, job: ShadowJob) -> bool:
        """Wait (re-reading at 50 ms doubling to 1 s, within ``timeout_seconds``) until no
        earlier turn of the conversation is held, on any replica: its copy has ended or is
        lost. False when one still is at the bound."""
        assert job.order_key is not None and job.turn is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.timeout_seconds
        wait = pauses()
        while await self._order.earlier_held(job.order_key, job.at, job.turn.queued):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(next(wait))
        return True

    async def _recall(self, job: ShadowJob) -> dict[str, Entry] | None:
        """The replay-map rows this copy refers to, once the copies it depends on are finished
        (on any replica); None (the drop counted) when the candidate does not hold the
        conversation. A run's tool outputs whose calls no copy is learning (no lease on them,
        after ``LEARN_GRACE_SECONDS``) learn them here instead of waiting out the timeout. A row
        still missing then, with no earlier turn of the conversation held anywhere, will not
        come: the copy that should have written it was lost (``create_copy_lost``)."""
        refs = job.refers_to()
        if not refs:
            return {}
        required: set[str] = set()
        run: str | None = None  # the run whose calls this copy may learn itself
        if job.shadowed and job.after:
            required.add(job.after)
            if job.answered and job.replies_to:
                required.add(job.replies_to)
                run = job.replies_to if job.submits else None
            if job.polled and job.answer_id:
                required.add(job.answer_id)  # only runs whose copy the maps know
        leases = {learning_key(c) for c in job.answered} if run else set()
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self._config.timeout_seconds
        wait = pauses()
        while True:
            known = await asyncio.to_thread(self._maps.read, refs | leases)
            leased = [known.pop(k) for k in leases if k in known]
            keys = (job.after, job.replies_to, job.answer_id)
            if any(known[k].broken for k in keys if k and k in known):
                self._reports.dropped("conversation_not_mirrored")
                return None
            if required <= known.keys() and (not required or _calls_arrived(job, known)):
                return known
            if (
                run is not None
                and required <= known.keys()
                and not leased
                and loop.time() >= started + LEARN_GRACE_SECONDS
            ):
                try:
                    learned = await asyncio.wait_for(
                        self._learn_calls(job, run, known), self._config.timeout_seconds
                    )
                except TimeoutError:
                    learned = None
                if learned is None:
                    self._reports.dropped("conversation_not_mirrored")
                return learned
            if (
                not required <= known.keys()
                and loop.time() >= started + LEARN_GRACE_SECONDS
                and job.order_key is not None
                and not await self._order.earlier_held(
                    job.order_key, job.at, job.turn.queued if job.turn else None
                )
            ):
                self._reports.dropped("create_copy_lost")
                return None
            if loop.time() >= deadline:
                if required <= known.keys():
                    return known
                self._reports.dropped("conversation_not_mirrored")
                return None
            await asyncio.sleep(next(wait))

    async def _learn_calls(
        self, job: ShadowJob, run: str, known: dict[str, Entry]
    ) -> dict[str, Entry] | None:
        """Learn the calls of ``run`` that the tool outputs answer, when no copy of its poll
        will: the primary's from its run steps (the client's submit was answered first, so the
        run may have moved on from ``requires_action``), the candidate's by polling its run.
        None when either cannot be had."""
        path = job.request.path.rsplit("/", 1)[0]  # /v1/threads/{t}/runs/{r}
        headers = job.request.headers + job.credentials
        query = "&".join(q for q in (job.request.query, f"limit={STEPS_PAGE}") if q)
        self._reports.fallback_read()
        steps = await self._primary.fetch(
            CapturedRequest("GET", f"{path}/steps", query, headers, b"")
        )
        primary_calls = step_function_calls(steps, set(job.answered)) if steps.ok else []
        if not primary_calls:
            log.warning(
                "the primary's steps of run %s did not show the calls answered (%s)",
                run,
                steps.error or steps.status,
            )
            return None
        own_path = _rewrite_path(path, _candidate_ids(known))
        answer = await self._poll(CapturedRequest("GET", own_path, "", job.request.headers, b""))
        self._reports.observed(job.route.label, answer.status, answer.total_seconds, None, 0, 0)
        if not answer.ok:
            return None
        calls = (primary_calls, function_calls(answer))
        await asyncio.to_thread(self._maps.write, {run: Entry(calls=calls)})
        return {**known, run: dataclasses.replace(known[run], calls=calls)}

    def _candidate_request(self, job: ShadowJob, known: dict[str, Entry]) -> CapturedRequest | None:
        """The request with the candidate's IDs; None when its tool calls diverged."""
        request = job.request
        ids = _candidate_ids(known)
        path = _rewrite_path(request.path, ids)
        body = request.body
        if job.data is not None:
            data = job.data
            changed = False
            for name in ("previous_response_id", "conversation"):
                value = data.get(name)
                if isinstance(value, str) and value in ids:
                    data = {**data, name: ids[value]}
                    changed = True
            if job.answered:
                entry = known.get(job.replies_to or "")
                mapping = match_calls(*entry.calls) if entry and entry.calls else None
                if mapping is None or not set(job.answered) <= mapping.keys():
                    return None
                data, changed = rewrite_tool_outputs(data, mapping), True
            if changed:
                body = orjson.dumps(data)
        return CapturedRequest(request.method, path, request.query, request.headers, body)


def _candidate_ids(known: dict[str, Entry]) -> dict[str, str]:
    """Primary ID -> the candidate's own ID, where they differ."""
    return {k: e.candidate_id for k, e in known.items() if e.candidate_id}


def _rewrite_path(path: str, ids: dict[str, str]) -> str:
    return "/".join(ids.get(part, part) for part in path.split("/"))


def _learned_call_ids(known: dict[str, Entry], key: str | None) -> set[str]:
    """The primary's call IDs the replay maps hold for one answer."""
    entry = known.get(key or "")
    return {c.id for c in entry.calls[0]} if entry and entry.calls else set()


def _candidate_call_ids(known: dict[str, Entry], key: str | None) -> frozenset[str]:
    """The candidate's call IDs the replay maps hold for one answer (its latest learned round)."""
    entry = known.get(key or "")
    return frozenset(c.id for c in entry.calls[1]) if entry and entry.calls else frozenset()


def _calls_known(job: ShadowJob, known: dict[str, Entry]) -> bool:
    """The replay maps already hold the calls a polled run's answer asks for."""
    return _learned_call_ids(known, job.answer_id) == {c.id for c in function_calls(job.primary)}


def _calls_arrived(job: ShadowJob, known: dict[str, Entry]) -> bool:
    """Tool outputs wait for the calls they answer: a polled run's are learned by the copy of
    the poll answer that showed them, maybe still running on another replica."""
    return set(job.answered) <= _learned_call_ids(known, job.replies_to)


def _learned(job: ShadowJob, answer: CapturedResponse) -> dict[str, Entry]:
    """What a successful copy leaves for the conversation's later copies: every primary ID it
    created or extended (finished), the candidate's own IDs, and both sides' function calls."""
    entries = {key: Entry() for key in job.produces}

    def add(key: str, **values: Any) -> None:
        entries[key] = dataclasses.replace(entries.get(key, Entry()), **values)

    if job.object_id is not None:
        mine = created_object(answer.body, answer.streamed)
        theirs = created_object(job.primary.body, job.primary.streamed)
        if mine is not None and mine.id != job.object_id:
            add(job.object_id, candidate_id=mine.id)
        if mine and theirs and mine.thread_id and theirs.thread_id != mine.thread_id:
            add(theirs.thread_id or "", candidate_id=mine.thread_id)
    primary_calls = function_calls(job.primary) if job.answer_id is not None else []
    if primary_calls and job.answer_id is not None:
        add(job.answer_id, calls=(primary_calls, function_calls(answer)))
    return entries


def _refused(answer: CapturedResponse) -> bool:
    """The upstream refused the request (a 4xx error object: OpenAI changes nothing then), as
    against failing or timing out, which may leave a change half made (408, 5xx, no answer)."""
    return answer.status is not None and 400 <= answer.status < 500 and answer.status != 408


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


def pauses() -> Iterator[float]:
    """The waits between re-reads or resends of something on its way (another replica's copy,
    a run still running): 50 ms, doubling to 1 s; the caller's timeout ends them."""
    pause = 0.05
    while True:
        yield pause
        pause = min(pause * 2, 1.0)


def _refused_as_busy(answer: CapturedResponse) -> bool:
    """The candidate refused because the thread's previous run is still active there."""
    if answer.status != 400:
        return False
    try:
        body = answer.json()
    except ValueError:  # orjson's decode error is one
        return False
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return isinstance(message, str) and busy_thread(message)
