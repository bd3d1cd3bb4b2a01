"""The gateway: a reverse proxy for the OpenAI API in front of two upstreams.

``http_server`` hands each whole request to ``Gateway.handle``. One request, in order: classify
the path; decide the side from the cached routing state and the cached pins; forward with the
side's keep-alive pool (``homeport.httpclient``) and stream the answer back chunk by chunk
(``homeport-upstream`` names the side that served it). An answer that reveals a new thread,
conversation or response ID is held until that ID's pin is durable. Shared objects are written to
both sides. In shadow mode the finished exchange is handed to the shadow worker process (one
frame written to a pipe; the copy, the replay and the pairs happen there). A request about an
evacuated conversation is translated to its managed IDs, and its answer back (one continuing an
older response of an evacuated chain first gets a carrier, ``carriers``); one naming a run or
response that stayed on homeport goes there.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from homeport.gateway.carriers import CarrierRefused, Carriers
from homeport.gateway.classify import Route, Scope, classify
from homeport.gateway.config import GatewayConfig
from homeport.gateway.handoff import encode
from homeport.gateway.http_server import Connection, Request
from homeport.gateway.metrics import GatewayMetrics
from homeport.gateway.mirror import ObjectMirror
from homeport.gateway.objects import Created, created_object
from homeport.gateway.pins import Pin, PinStore, PinWriteError
from homeport.gateway.routing import RoutingCache, new_conversation_side, unpinned_side
from homeport.gateway.seams import (
    CapturedRequest,
    CapturedResponse,
    Mode,
    Role,
    RoutingSource,
    RoutingState,
    Upstream,
)
from homeport.gateway.shadow_process import ShadowProcess
from homeport.gateway.sidestats import write_side_stats
from homeport.gateway.translate import Translation, Translations
from homeport.gateway.upstream import (
    CONVERSATION_KEY_HEADER,
    UPSTREAM_HEADER,
    Side,
    credential_headers,
    is_event_stream,
    recordable_headers,
    response_headers,
    usage,
)
from homeport.httpclient import Response, UpstreamError
from homeport.store.db import Database

log = logging.getLogger("homeport.gateway")

_KEY_HEADER = CONVERSATION_KEY_HEADER.encode()
_UPSTREAM = {u: (UPSTREAM_HEADER.encode(), u.value.encode()) for u in Upstream}
_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", UPSTREAM_HEADER.encode()})
# Answer headers not relayed (the upstream header is the gateway's to set); a translated answer
# changes length, so its length goes too.
_DROPPED_ANSWER_HEADERS = {False: _HOP, True: _HOP | {b"content-length"}}


@dataclass(frozen=True, slots=True)
class Plan:
    """Where one request goes and what it means for the conversation."""

    side: Upstream
    conversation: str | None  # the conversation key (pairs, metrics, pins of new responses)
    after: str | None  # the existing object the request refers to
    pin_kind: str | None  # kind of the pin to write for the object the answer creates
    also_produces: str | None = None  # a conversation a new response is added to
    moved: bool = False  # the conversation was evacuated to the managed side
    translation: Translation | None = None  # its ID map (homeport IDs <-> managed IDs)
    shadowed: bool = False  # ``after`` was created while shadowing (its copy is on its way)


_KEYLESS = {side: Plan(side, None, None, None) for side in Upstream}
"""The plan of a stateless request the client sent no conversation key with, per side (the
common case, made once)."""


def _error_body(message: str, code: str) -> bytes:
    return orjson.dumps(
        {"error": {"message": message, "type": "server_error", "param": None, "code": code}}
    )


class Gateway:
    def __init__(self, config: GatewayConfig, *, db: Database, source: RoutingSource) -> None:
        self.config = config
        self.db = db
        self.metrics = GatewayMetrics(config.replica)
        self.routing = RoutingCache(source, config.initial_state(), config.refresh_seconds)
        self.shadow = ShadowProcess(config, self.metrics)
        self._started = False
        # Made in start(): they need the running loop.
        self.sides: dict[Upstream, Side] = {}
        self.pins: PinStore
        self.translations = Translations(db, config.map_cache_size)
        self.carriers = Carriers(db, config, self.translations, self.metrics)
        self.mirror: ObjectMirror
        self._stats_task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.sides = {
            side: Side(side, config, self.metrics.tls_reload(side))
            for side, config in (
                (Upstream.MANAGED, self.config.managed),
                (Upstream.HOMEPORT, self.config.homeport),
            )
        }
        self.pins = PinStore(self.db, self.config.pin_cache_size, self.config.name)
        self.routing.on_read = self._follow_pins_epoch
        self.mirror = ObjectMirror(self.db, self.config.mirror_timeout_seconds, self.metrics)
        await self.routing.start()
        self.pins.start()
        if self.config.routing == "store" or self.config.mode is Mode.SHADOW:
            await self.shadow.start()
        self._stats_task = asyncio.create_task(self._stats_loop(), name="gateway-side-stats")
        self._sweep_task = asyncio.create_task(
            self.carriers.sweep_forever(), name="gateway-carrier-sweep"
        )
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        for task in (self._stats_task, self._sweep_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.routing.stop()
        await self.shadow.stop()
        await self.pins.stop()
        await self._flush_stats()
        for side in self.sides.values():
            await side.close()

    async def _flush_stats(self) -> None:
        stats = self.metrics.take_window(self.routing.current.phase)
        try:
            await asyncio.to_thread(write_side_stats, self.db, stats)
        except Exception as exc:  # counters are advisory; the next window carries on
            log.warning("writing side stats failed: %s", exc)

    async def _follow_pins_epoch(self, state: RoutingState) -> None:
        """Re-read pins an evacuation moved; on failure the next refresh tries again."""
        if state.pins_epoch <= self.pins.epoch:
            return
        try:
            self.translations.forget(await self.pins.advance(state.pins_epoch))
        except Exception as exc:
            log.warning("re-reading moved pins failed: %s", exc)

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.stats_seconds)
            await self._flush_stats()

    # ------------------------------------------------------------------ serving

    async def handle(self, request: Request, send: Connection) -> None:
        """Answer one request (``http_server``'s handler)."""
        path = request.path
        if path == "/metrics":
            self.metrics.routing_weight.set(self.routing.current.weight)
            await _reply(
                send, 200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST.encode()
            )
            return
        if path == "/healthz":
            state = self.routing.current
            body = orjson.dumps(
                {
                    "status": "ok",
                    "mode": state.mode.value,
                    "weight": state.weight,
                    "phase": state.phase,
                }
            )
            await _reply(send, 200, body)
            return
        await self._proxy(request, send)

    # ------------------------------------------------------------------ routing

    async def _plan(self, route: Route, state: RoutingState, request: Request) -> Plan:
        found = request.header(_KEY_HEADER)
        client_key = found.decode("latin-1") if found is not None else None
        if route.scope is Scope.CONVERSATION and route.key is not None:
            plan = await self._existing(route.key, state, None)
            if plan.translation is not None and plan.translation.stays_home(request.path):
                # A run or response made on homeport before the move: read where it was made.
                return Plan(Upstream.HOMEPORT, plan.conversation, route.key, None)
            return plan
        if route.scope is Scope.SHARED:
            return Plan(unpinned_side(state), None, None, None)
        if route.scope is Scope.CREATE and route.creates == "response":
            data = _json_object(request.body)
            conversation = data.get("conversation")
            if isinstance(conversation, dict):
                conversation = conversation.get("id")
            ref = data.get("previous_response_id") or conversation
            kind = None if data.get("store") is False else "response"
            if isinstance(ref, str):
                plan = await self._existing(ref, state, kind)
                extra = conversation if isinstance(conversation, str) else None
                return replace(plan, after=ref, pin_kind=kind, also_produces=extra)
            side = _new_side(state, client_key)
            return Plan(side, client_key, None, kind)
        if route.scope is Scope.CREATE:
            side = _new_side(state, client_key)
            return Plan(side, client_key, None, route.creates)
        side = _new_side(state, client_key)
        return _KEYLESS[side] if client_key is None else Plan(side, client_key, None, None)

    async def _existing(self, key: str, state: RoutingState, pin_kind: str | None) -> Plan:
        known, pin = self.pins.cached(key)
        if not known:
            pin = await self.pins.get(key)
        if pin is None:
            return Plan(unpinned_side(state), key, key, pin_kind)
        translation = None
        if pin.moved:
            translation = self.translations.cached(pin.conversation) or await self.translations.get(
                pin.conversation
            )
        return Plan(
            pin.side, pin.conversation, key, pin_kind, None, pin.moved, translation, pin.shadowed
        )

    # ------------------------------------------------------------------ proxying

    async def _proxy(self, request: Request, send: Connection) -> None:
        method, path, query, body = request.method, request.path, request.query, request.body
        route = classify(method, path)
        state = self.routing.current
        try:
            plan = await self._plan(route, state, request)
        except Exception as exc:  # the pin store is unreachable: do not guess a side
            log.warning("routing failed: %s", exc)
            await _reply(
                send,
                503,
                _error_body(
                    "The gateway could not look up where this conversation lives; retry.",
                    "gateway_state",
                ),
            )
            return
        if plan.translation is not None and plan.translation.needs_carrier(plan.after):
            try:  # an older response of an evacuated chain: it goes on from its own carrier
                carried = await self.carriers.carry(
                    str(plan.conversation),
                    str(plan.after),
                    plan.translation,
                    credential_headers(request.headers),
                )
            except CarrierRefused as exc:
                await _reply(send, exc.status, exc.body, upstream=exc.side)
                return
            plan = replace(plan, translation=carried)
        side = self.sides[plan.side]
        shadowing = (
            state.mode is Mode.SHADOW
            and plan.side is Upstream.MANAGED
            and (route.model_call or (route.write and route.scope is not Scope.SHARED))
        )
        mirroring = (
            route.scope is Scope.SHARED and route.write and state.mode is not Mode.PASSTHROUGH
        )
        # A run the client polls shows its tool calls only here: the worker learns them.
        polled = (
            state.mode is Mode.SHADOW
            and plan.side is Upstream.MANAGED
            and plan.shadowed
            and _is_run_retrieve(method, path)
        )
        capture = route.model_call or shadowing or polled or mirroring or plan.pin_kind is not None
        started_at = time.time()
        t0 = time.perf_counter()
        # An evacuated conversation: the managed side knows it under its own IDs.
        sent = (
            (path, query, body)
            if plan.translation is None
            else plan.translation.request(path, query, body)
        )
        try:
            response = await side.open(
                method, sent[0], sent[1], side.headers(request.headers), sent[2]
            )
        except UpstreamError as exc:
            # The client sees the error's kind; the log keeps its reason (a refused connection,
            # an untrusted certificate, ...) for the operator.
            log.warning("%s upstream did not answer %s %s: %s", plan.side.value, method, path, exc)
            self.metrics.observe(
                side=plan.side,
                role=Role.SERVED,
                route=route.label,
                status=None,
                seconds=time.perf_counter() - t0,
                ttft=None,
            )
            await _reply(
                send,
                502,
                _error_body(
                    f"The {plan.side.value} upstream did not answer: {type(exc).__name__}.",
                    "upstream_unavailable",
                ),
                upstream=plan.side,
            )
            return
        try:
            answer = await self._relay(
                response,
                send,
                plan,
                capture=capture,
                copied=shadowing or polled or mirroring,
                shadowing=shadowing,
                t0=t0,
                started_at=started_at,
            )
        except UpstreamError as exc:  # the upstream broke off mid-answer
            log.warning("%s upstream broke off: %s", plan.side.value, exc)
            answer = None
        finally:
            response.release()
        if answer is None:
            return
        given, made = usage(answer.body, answer.streamed) if route.model_call else (0, 0)
        self.metrics.observe(
            side=plan.side,
            role=Role.SERVED,
            route=route.label,
            status=answer.status,
            seconds=answer.total_seconds,
            ttft=answer.ttft_seconds,
            input_tokens=given,
            output_tokens=made,
        )
        if shadowing or (polled and _requires_action(answer)):
            self.shadow.submit(
                encode(
                    method=method,
                    path=path,
                    query=query,
                    headers=recordable_headers(request.headers),
                    body=body,
                    primary=answer,
                    phase=state.phase,
                    conversation=plan.conversation,
                    after=plan.after,
                    also_produces=plan.also_produces,
                    shadowed=plan.shadowed,
                    credentials=credential_headers(request.headers)
                    if plan.shadowed and path.endswith("/submit_tool_outputs")
                    else (),
                )
            )
        elif mirroring:
            captured = CapturedRequest(
                method, path, query, recordable_headers(request.headers), body
            )
            await self.mirror.copy(
                self.sides[plan.side.other],
                route,
                captured,
                answer,
                wait=state.mode is not Mode.SHADOW,
            )

    async def _relay(
        self,
        response: Response,
        send: Connection,
        plan: Plan,
        *,
        capture: bool,
        copied: bool,
        shadowing: bool,
        t0: float,
        started_at: float,
    ) -> CapturedResponse | None:
        """Stream the upstream's answer to the client; pin a created object before its ID goes
        out. Returns the captured answer (body only when ``capture``, headers only when
        ``copied``: the answer goes to a shadow copy or a mirror), None when it failed."""
        status = response.status
        rewriter = plan.translation.answer() if plan.translation else None
        dropped = _DROPPED_ANSWER_HEADERS[rewriter is not None]
        headers = [(k, v) for k, v in response.headers if k.lower() not in dropped]
        headers.append(_UPSTREAM[plan.side])
        streamed = is_event_stream(response.header(b"content-type") or b"")
        pin_pending = plan.pin_kind is not None and 200 <= status < 300
        chunks: list[bytes] = []
        held: list[bytes] = []
        started = ended = False
        ttft: float | None = None
        async for chunk in response:
            if ttft is None:
                ttft = time.perf_counter() - t0
            if capture:
                chunks.append(chunk)
            if pin_pending:
                held.append(chunk)
                created = created_object(b"".join(held), streamed)
                if created is None and streamed:
                    continue  # keep holding until the event that names the new object
                if created is None and not streamed:
                    continue  # a JSON answer is pinned once it is whole
                pin_pending = False
                if not await self._pin(plan, created, send, shadowing):
                    return None
                chunk, held = b"".join(held), []
            if not started:
                send.start(status, headers)
                started = True
            ended = rewriter is None and response.ended  # the last piece ends the answer too
            await send.body(chunk if rewriter is None else rewriter.feed(chunk), more=not ended)
        if held:  # an answer that never named an object: forward it unpinned
            if not started:
                send.start(status, headers)
                started = True
            out = b"".join(held)
            out = out if rewriter is None else rewriter.feed(out)
            await send.body(out)
        if not ended:
            if not started:
                send.start(status, headers)
            last = b"" if rewriter is None else rewriter.flush()
            await send.body(last, more=False)
        return CapturedResponse(
            upstream=plan.side,
            status=status,
            headers=response_headers(response.headers) if copied else (),
            body=b"".join(chunks),
            error=None,
            started_at=started_at,
            ttft_seconds=ttft if streamed else None,
            total_seconds=time.perf_counter() - t0,
            streamed=streamed,
        )

    async def _pin(
        self, plan: Plan, created: Created | None, send: Connection, shadowing: bool
    ) -> bool:
        if created is None or plan.pin_kind is None:
            return True
        # A new thread, conversation or response chain is its own conversation; a response
        # added to an existing one joins it.
        conversation = created.id if plan.after is None else plan.conversation or created.id
        try:
            await self.pins.put(
                created.id,
                plan.pin_kind,
                Pin(plan.side, conversation, moved=plan.moved, shadowed=shadowing),
            )
        except PinWriteError as exc:
            log.error("%s", exc)
            await _reply(
                send,
                503,
                _error_body(
                    "The gateway could not record where this conversation lives; retry.",
                    "gateway_state",
                ),
                upstream=plan.side,
            )
            return False
        self.metrics.child(self.metrics.pins_written, plan.side, plan.pin_kind).inc()
        return True


def _new_side(state: RoutingState, client_key: str | None) -> Upstream:
    """A new conversation's side; without the client's key, a random one (drawn only when the
    canary split needs it)."""
    key = client_key or (secrets.token_hex(8) if state.mode is Mode.CANARY else "")
    return new_conversation_side(state, key)


def _is_run_retrieve(method: str, path: str) -> bool:
    """GET /v1/threads/{thread}/runs/{run}."""
    parts = path.strip("/").split("/")
    return method == "GET" and len(parts) == 5 and parts[1] == "threads" and parts[3] == "runs"


def _requires_action(answer: CapturedResponse) -> bool:
    """A run waiting for tool outputs (the byte test spares parsing every other poll answer)."""
    if answer.status != 200 or b'"requires_action"' not in answer.body:
        return False
    return _json_object(answer.body).get("status") == "requires_action"


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


async def _reply(
    send: Connection,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    upstream: Upstream | None = None,
) -> None:
    await send.reply(status, body, content_type, (_UPSTREAM[upstream],) if upstream else ())
