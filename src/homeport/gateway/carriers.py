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
loser deletes its own and uses the winner's.

No carrier is left that nothing points to: an attempt writes an intent row before it asks the
managed side, and gives it the carrier's ID as soon as the managed side names one (the create is
streamed: the ID comes before the answer is made); recording the carrier deletes the intent
(``carrier_intents``). Intents older than ``carrier_timeout_seconds`` are attempts whose gateway
died (or failed to clean up): every replica sweeps them each ``carrier_timeout_seconds`` and
deletes their carriers on the managed side with the side's key; with no key of its own, the next
request for the member does, with its credentials. An attempt that died before the managed side
named anything is counted ``lost`` and logged: a carrier it may have made cannot be found (the
Responses API lists none), so only the instant between its creation and the first streamed
event stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import orjson
from sqlalchemy import select

from homeport.gateway.carrier_intents import (
    claim_stale,
    forget,
    intend,
    name,
    record_carrier,
    restore,
)
from homeport.gateway.config import GatewayConfig
from homeport.gateway.metrics import GatewayMetrics
from homeport.gateway.seams import Headers, Upstream
from homeport.gateway.translate import Translation, Translations
from homeport.rollout.transcripts import ChainTranscript, Source
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
        self._sides = {Upstream.MANAGED: config.managed, Upstream.HOMEPORT: config.homeport}
        # Renewed TLS files are counted by the proxy's sides (``upstream.Side``), logged here.
        self._tls = {side: c.tls() for side, c in self._sides.items()}
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

    def _make(self, chain: ChainTranscript, source: Source, member: str) -> str:
        """A new carrier for ``member``, recorded; or the one another replica recorded first
        (ours deleted). From before the managed side is asked, an intent row stands for it."""
        intent = intend(self._db, member, self._config.replica)
        made: str | None = None

        def named(carrier: str) -> None:
            nonlocal made
            made = carrier
            name(self._db, intent, carrier)

        try:
            with _refusal(Upstream.MANAGED, member):
                made = chain.carry(source, named)
            carrier = record_carrier(self._db, member, made, intent)
        except Exception as exc:
            # Nothing made when the side answered no; a carrier not named (the answer lost)
            # may exist: its intent stays, for the sweep to report.
            if made is not None or isinstance(exc.__cause__, openai.APIStatusError):
                self._abandon(chain.managed, member, intent, made)
            raise
        won = carrier == made
        self._metrics.carriers.labels("made" if won else "raced").inc()
        if not won:  # another replica won the race: ours goes
            log.info("response %s was carried by another replica first", member)
            self._abandon(chain.managed, member, intent, made)
        return carrier

    def _abandon(self, managed: openai.OpenAI, member: str, intent: str, made: str | None) -> None:
        """Delete an attempt's unused carrier, then its intent; a step that fails leaves the
        rest to the sweep."""
        try:
            if made is not None:
                with contextlib.suppress(openai.NotFoundError):  # a sweep was first
                    managed.responses.delete(made)
            forget(self._db, intent)
        except Exception as exc:  # the managed side or the store
            log.warning(
                "unused carrier %s of response %s is left to the sweep: %s", made, member, exc
            )

    def sweep(self) -> None:
        """Runs in a worker thread: deletes the carriers of attempts (any replica's) that never
        finished, their intents older than ``carrier_timeout_seconds``, with the managed side's
        key. A side without one is swept member by member, by the next request that needs a
        carrier for the member, with that request's credentials."""
        if self._sides[Upstream.MANAGED].resolved_api_key() is None:
            return
        with self._client(Upstream.MANAGED, ()) as managed:
            self._sweep(managed)

    async def sweep_forever(self) -> None:
        """:meth:`sweep` every ``carrier_timeout_seconds`` (the gateway's background task)."""
        while True:
            await asyncio.sleep(self._timeout)
            try:
                await asyncio.to_thread(self.sweep)
            except Exception as exc:  # the next round tries again
                log.warning("sweeping unfinished carriers failed: %s", exc)

    def _sweep(self, managed: openai.OpenAI, member: str | None = None) -> None:
        for intent in claim_stale(self._db, time.time() - self._timeout, member):
            if intent.carrier is None:
                self._metrics.carriers.labels("lost").inc()
                log.warning(
                    "replica %s stopped making a carrier for response %s before the managed side "
                    "named it: one it may have made cannot be found to be deleted",
                    intent.replica,
                    intent.member,
                )
                continue
            try:
                with contextlib.suppress(openai.NotFoundError):
                    managed.responses.delete(intent.carrier)
            except openai.OpenAIError as exc:
                restore(self._db, intent)
                log.warning(
                    "deleting unused carrier %s failed; retried later: %s", intent.carrier, exc
                )
                continue
            self._metrics.carriers.labels("swept").inc()
            log.info(
                "deleted carrier %s of response %s, left by replica %s",
                intent.carrier,
                intent.member,
                intent.replica,
            )

    def _client(self, upstream: Upstream, credentials: Headers) -> openai.OpenAI:
        """An SDK client for one side: its own key, or the client's credentials passed through."""
        side = self._sides[upstream]
        key = side.resolved_api_key()
        headers: dict[str, str] = {}
        if key is None:
            headers = dict(credentials)
            key = headers.pop("authorization", "").removeprefix("Bearer ").strip()
        tls = self._tls[upstream]
        return openai.OpenAI(
            base_url=side.base_url,
            api_key=key or "none",  # none given: the side answers 401, as it would have
            default_headers=headers,
            timeout=self._timeout,
            max_retries=0,  # a retried create could leave a second carrier; the client retries
            http_client=openai.DefaultHttpxClient(transport=tls.httpx_transport() if tls else None),
        )

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
                self._client(Upstream.HOMEPORT, credentials) as homeport,
                self._client(Upstream.MANAGED, credentials) as managed,
            ):
                self._sweep(managed, member)  # with this request's credentials
                chain = ChainTranscript(homeport, managed)
                with _refusal(Upstream.HOMEPORT, member):
                    source = chain.read(member)
                carrier = self._make(chain, source, member)
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
