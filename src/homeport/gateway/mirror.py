"""Shared objects (assistants, files, vector stores) written to both sides with the same ID.

The primary side answers first and assigns the ID; the same request then goes to the other side
with ``homeport-object-id`` / ``homeport-created-at`` (homeport accepts them from an admin key).
In canary and full mode the copy finishes (or times out) before the client gets its answer, so
an object exists on both sides before any conversation can use it; in shadow mode it runs in the
background, the copies one after another in the order the primary answered, so an assistant
naming a vector store is copied after that store; the wait counts against each copy's
``timeout_seconds``. A background create the candidate answers with 404 is tried again (50 ms
doubling to 1 s, within that timeout): what it names may still be on its way through another
replica. A 404 on a modify or delete is final: the object itself may never have been copied,
and waiting would hold up the copies behind it. A copy that fails never fails the client: the
object is recorded as ``missing`` in ``gateway_objects``, the list to repair before traffic
moves.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from homeport.gateway.classify import Route
from homeport.gateway.metrics import GatewayMetrics
from homeport.gateway.objects import created_object, creates_object
from homeport.gateway.seams import CapturedRequest, CapturedResponse, Upstream
from homeport.gateway.shadow import CREATED_AT_HEADER, OBJECT_ID_HEADER, pauses
from homeport.gateway.upstream import Side
from homeport.store.db import Database
from homeport.store.models.base import now
from homeport.store.models.gateway import GatewayObject

log = logging.getLogger("homeport.gateway.mirror")


class ObjectMirror:
    def __init__(self, db: Database, timeout_seconds: float, metrics: GatewayMetrics) -> None:
        self._db = db
        self._timeout = timeout_seconds
        self._metrics = metrics
        self._last: asyncio.Task[None] | None = None
        """The newest background copy: the next one starts after it."""

    async def copy(
        self,
        other: Side,
        route: Route,
        request: CapturedRequest,
        answer: CapturedResponse,
        *,
        wait: bool,
    ) -> None:
        if not answer.ok:
            return  # the primary refused: nothing to copy
        if wait:
            await self._copy(other, route, request, answer, background=False, behind=None)
            return
        self._last = asyncio.create_task(
            self._copy(other, route, request, answer, background=True, behind=self._last)
        )

    async def _copy(
        self,
        other: Side,
        route: Route,
        request: CapturedRequest,
        answer: CapturedResponse,
        *,
        background: bool,
        behind: asyncio.Task[None] | None,
    ) -> None:
        """Copy one write; a ``background`` one starts once the copy ``behind`` it is done, and
        the wait counts against its ``timeout_seconds`` (the queue cannot grow without end)."""
        kind = route.shared_kind or "object"
        extra: tuple[tuple[str, str], ...] = ()
        if creates_object(request.method, request.path):
            created = created_object(answer.body, answer.streamed)
            if created is None:
                return
            object_id = created.id
            if other.upstream is Upstream.HOMEPORT:
                extra = ((OBJECT_ID_HEADER, object_id),)
                if created.created_at is not None:
                    extra += ((CREATED_AT_HEADER, str(created.created_at)),)
        else:
            object_id = request.path.strip("/").split("/")[2]
        retry = background and creates_object(request.method, request.path)
        try:
            copied = await asyncio.wait_for(
                self._fetch(other, request, extra, behind, retry), self._timeout
            )
            error = None if copied.ok else (copied.error or f"HTTP {copied.status}")
            if copied.ok and extra == () and creates_object(request.method, request.path):
                theirs = created_object(copied.body, copied.streamed)
                if theirs is None or theirs.id != object_id:
                    error = f"the {other.upstream.value} side assigned its own ID"
        except TimeoutError:
            error = f"no answer within {self._timeout:g} s"
        if request.method == "DELETE" and error is None:
            status = "deleted"
        else:
            status = "mirrored" if error is None else "missing"
        self._metrics.mirror_writes.labels(kind, status).inc()
        if error is not None:
            log.warning(
                "copying %s %s to %s failed: %s", kind, object_id, other.upstream.value, error
            )
        try:
            await asyncio.to_thread(
                self._record, object_id, kind, other.upstream.other, status, error
            )
        except Exception as exc:  # the copy happened (or not); only the record is lost
            log.warning("recording mirrored %s %s failed: %s", kind, object_id, exc)

    @staticmethod
    async def _fetch(
        other: Side,
        request: CapturedRequest,
        extra: tuple[tuple[str, str], ...],
        behind: asyncio.Task[None] | None,
        retry: bool,
    ) -> CapturedResponse:
        """The copy's answer, once the copy ``behind`` it is done; with ``retry``, a 404 is tried
        again until the caller's timeout."""
        if behind is not None:
            await asyncio.wait([behind])  # its outcome is its own: recorded, never raised here
        wait = pauses()
        while True:
            copied = await other.fetch(request, extra)
            if not retry or copied.status != 404:
                return copied
            await asyncio.sleep(next(wait))

    def _record(
        self, object_id: str, kind: str, primary: Upstream, status: str, error: str | None
    ) -> None:
        with self._db.session() as session:
            row = session.scalar(select(GatewayObject).where(GatewayObject.object_id == object_id))
            if row is None:
                row = GatewayObject(object_id=object_id, kind=kind, primary=primary.value)
                session.add(row)
            row.status, row.error, row.updated_at = status, error, now()
