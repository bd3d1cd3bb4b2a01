"""Carriers made on demand: a client branching from an older response of an evacuated chain.

An evacuation carries a response chain's transcript over to the managed side in one *carrier*
response continued in place of the chain's newest response, and records every other response of
the chain as a ``chain_member`` of ``gateway_id_map`` (mapped to itself) with its pin moved. A
request continuing such a member (``previous_response_id``) finds it in the conversation's ID map
(the one map read a moved conversation costs anyway) and gets a carrier of its own, made here, in
the request path, with the evacuation's recipe (``ChainTranscript``): the chain up to the member,
read from homeport, becomes the input of one stored managed response. The request is then
translated to continue the carrier, like the chain's newest response.

The first request pays for it (reading the chain on homeport, one managed call), bounded by
``timeout_seconds``; a failure is answered as an OpenAI error object naming the side that refused,
and nothing is recorded, so the next request tries again. Later requests reuse the carrier: on
this replica through the cached map, on others through the map row, which they read once before
making one. Requests for one member on one replica share one attempt, made with the credentials
of the request that started it (for a side without a key of its own). Two replicas racing both
make a carrier; the row's compare-and-set (``chain_member`` -> ``response``) admits one, and the
loser deletes its own and uses the winner's. A gateway that dies between the managed side's
answer and the record leaves one carrier nothing points to; the next request makes another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import openai
import orjson
from sqlalchemy import select, update

from homeport.gateway.config import GatewayConfig, SideConfig
from homeport.gateway.metrics import GatewayMetrics
from homeport.gateway.seams import Headers, Upstream
from homeport.gateway.translate import CHAIN_MEMBER, Translation, Translations
from homeport.rollout.transcripts import ChainTranscript
from homeport.store.db import Database
from homeport.store.models.gateway import GatewayIdMap

log = logging.getLogger("homeport.gateway.carriers")


class CarrierRefused(Exception):
    """No carrier could be made: the answer for the client, in OpenAI's error shape."""

    def __init__(self, side: Upstream, status: int, message: str, kind: str, code: str) -> None:
        super().__init__(message)
        self.side = side
        self.status = status
        error = {"message": message, "type": kind, "param": "previous_response_id", "code": code}
        self.body = orjson.dumps({"error": error})


def record_carrier(db: Database, member: str, carrier: str) -> str:
    """Record ``carrier`` as continuing ``member``; returns the carrier in force (an earlier
    writer's, when another replica recorded one first)."""
    with db.session() as session:
        won = session.execute(
            update(GatewayIdMap)
            .where(GatewayIdMap.source_id == member, GatewayIdMap.kind == CHAIN_MEMBER)
            .values(kind=ChainTranscript.kind, target_id=carrier)
        )
        if won.rowcount:  # type: ignore[attr-defined]
            return carrier
        return session.scalars(
            select(GatewayIdMap.target_id).where(
                GatewayIdMap.source_id == member, GatewayIdMap.kind == ChainTranscript.kind
            )
        ).one()


class Carriers:
    """One replica's on-demand carriers."""

    def __init__(
        self,
        db: Database,
        config: GatewayConfig,
        translations: Translations,
        metrics: GatewayMetrics,
    ) -> None:
        """A request waits ``config.carrier_timeout_seconds`` for its carrier (reading the chain
        on homeport, then the managed side's answer); past it the client gets a 504 and the work
        goes on in the background. Outcomes are counted in ``homeport_gateway_carriers_total``."""
        self._db = db
        self._config = config
        self._translations = translations
        self._metrics = metrics
        self._timeout = config.carrier_timeout_seconds
        self._pending: dict[str, asyncio.Future[str]] = {}

    async def carry(
        self, conversation: str, member: str, translation: Translation, credentials: Headers
    ) -> Translation:
        """The conversation's map with ``member`` continued by a carrier (made if need be);
        raises :class:`CarrierRefused`. ``credentials``: the client's, for a side without a key
        of its own."""
        pending = self._pending.get(member)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(self._carrier, member, credentials))
            self._pending[member] = pending
            pending.add_done_callback(self._settled(member))
        try:
            carrier = await asyncio.wait_for(asyncio.shield(pending), self._timeout)
        except TimeoutError:
            self._metrics.carriers.labels("timed_out").inc()
            raise CarrierRefused(
                Upstream.MANAGED,
                504,
                f"Taking response {member} over to the managed side took longer than "
                f"{self._timeout:g} s; retry.",
                "server_error",
                "upstream_timeout",
            ) from None
        carried = translation.carried(member, carrier)
        self._translations.replace(conversation, translation, carried)
        return carried

    def _settled(self, member: str) -> Callable[[asyncio.Future[str]], None]:
        def settled(attempt: asyncio.Future[str]) -> None:
            self._pending.pop(member, None)
            if not attempt.cancelled():
                attempt.exception()  # seen, even when every waiter gave up before the end

        return settled

    def _carrier(self, member: str, credentials: Headers) -> str:
        """Runs in a worker thread: the member's carrier, recorded or made now."""
        try:
            with self._db.sessions() as session:
                found = session.scalars(
                    select(GatewayIdMap.target_id).where(
                        GatewayIdMap.source_id == member,
                        GatewayIdMap.kind == ChainTranscript.kind,
                    )
                ).first()
            if found is not None:  # another replica made it
                self._metrics.carriers.labels("found").inc()
                return found
            with (
                _client(self._config.homeport, credentials, self._timeout) as homeport,
                _client(self._config.managed, credentials, self._timeout) as managed,
            ):
                chain = ChainTranscript(homeport, managed)
                with _refusal(Upstream.HOMEPORT, member):
                    source = chain.read(member)
                with _refusal(Upstream.MANAGED, member):
                    made = chain.carry(source)
                carrier = record_carrier(self._db, member, made)
                won = carrier == made
                self._metrics.carriers.labels("made" if won else "raced").inc()
                if not won:  # another replica won the race: ours goes
                    log.info("response %s was carried by another replica first", member)
                    with contextlib.suppress(openai.OpenAIError):
                        managed.responses.delete(made)
            log.info("response %s continues from carrier %s on the managed side", member, carrier)
            return carrier
        except CarrierRefused:
            self._metrics.carriers.labels("refused").inc()
            raise
        except Exception as exc:  # the store (or a side's key setting): the client retries
            self._metrics.carriers.labels("failed").inc()
            log.warning("making a carrier for %s failed: %s", member, exc)
            raise CarrierRefused(
                Upstream.MANAGED,
                503,
                f"The gateway could not record a carrier for response {member}; retry.",
                "server_error",
                "gateway_state",
            ) from exc


def _client(side: SideConfig, credentials: Headers, timeout: float) -> openai.OpenAI:
    """An SDK client for one side: its own key, or the client's credentials passed through."""
    key = side.resolved_api_key()
    headers: dict[str, str] = {}
    if key is None:
        headers = dict(credentials)
        key = headers.pop("authorization", "").removeprefix("Bearer ").strip()
    return openai.OpenAI(
        base_url=side.base_url,
        api_key=key or "none",  # none given: the side answers 401, as it would have
        default_headers=headers,
        timeout=timeout,
        max_retries=0,  # a retried create could leave a second carrier; the client retries
        http_client=openai.DefaultHttpxClient(verify=side.tls_context() or True),
    )


@contextlib.contextmanager
def _refusal(side: Upstream, member: str) -> Iterator[None]:
    """A side's failure as the client's error, naming the side."""
    what = f"The {side.value} side could not take response {member} over"
    try:
        yield
    except openai.APIStatusError as exc:
        error: dict[str, Any] = exc.body if isinstance(exc.body, dict) else {}
        kind = error.get("type") or (
            "server_error" if exc.status_code >= 500 else "invalid_request_error"
        )
        raise CarrierRefused(
            side,
            exc.status_code,
            f"{what}: {error.get('message') or exc.message}",
            str(kind),
            str(error.get("code") or "carrier_refused"),
        ) from exc
    except openai.APIConnectionError as exc:
        raise CarrierRefused(
            side,
            504 if isinstance(exc, openai.APITimeoutError) else 502,
            f"{what}: {type(exc).__name__}.",
            "server_error",
            "upstream_timeout"
            if isinstance(exc, openai.APITimeoutError)
            else "upstream_unavailable",
        ) from exc
