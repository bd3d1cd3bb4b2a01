"""ID translation for evacuated conversations: clients keep using the homeport IDs they stored.

An evacuated conversation lives on the managed side under new IDs (managed platforms assign their
own). Its ID map (``gateway_id_map``: homeport ID -> managed ID, for the thread or conversation
and each replayed message or item) is read once per replica, when a request first names the
conversation after the move, and cached like pins (bounded; dropped when the pins epoch says the
conversation's pins changed). Requests are rewritten to the managed IDs (path, query, body) and
answers back to the homeport IDs; a streamed answer is rewritten line by line, so an ID split
across chunks is never missed.

Every token shaped like an ID (``prefix_token``) is looked up in the map, so each field naming
one (``thread_id``, ``id``, ``first_id``, ``conversation``, a ``after`` cursor) is covered without
a table of endpoints; IDs the map does not hold (runs and messages created after the move) pass
unchanged.

Runs made on homeport before the move are not recreated, and an evacuated response chain goes on
from managed responses that carry its transcript; a request whose *path* names one of those
(``at_home``: polling an old run, its steps, retrieving any of the chain's responses) is served by
homeport, which still holds it as it finished. A chain's responses that no carrier continues yet
(``chain_member``) are ``uncarried``: a request continuing one first has a carrier made for it
(``gateway.carriers``), then is translated like the rest.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from homeport.store.db import Database
from homeport.store.models.gateway import GatewayIdMap

# A whole token (not preceded by a word character, which also keeps the scan linear).
_ID = re.compile(rb"(?<![A-Za-z0-9_])[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+")


def _rewrite(data: bytes, mapping: dict[bytes, bytes]) -> bytes:
    if not mapping or not data:
        return data
    return _ID.sub(lambda m: mapping.get(m.group(0), m.group(0)), data)


@dataclass(frozen=True, slots=True)
class Translation:
    """One evacuated conversation's ID map, both ways."""

    to_managed: dict[bytes, bytes]
    to_client: dict[bytes, bytes]
    at_home: frozenset[str] = frozenset()  # homeport IDs whose requests homeport answers
    uncarried: frozenset[str] = frozenset()  # chain responses no managed carrier continues yet

    @classmethod
    def of(
        cls,
        pairs: Iterable[tuple[str, str]],
        at_home: Iterable[str] = (),
        uncarried: Iterable[str] = (),
    ) -> Translation:
        forward = {source.encode(): target.encode() for source, target in pairs}
        return cls(
            forward,
            {target: source for source, target in forward.items()},
            frozenset(at_home),
            frozenset(uncarried),
        )

    def stays_home(self, path: str) -> bool:
        """Whether the path names an object homeport keeps serving."""
        return bool(self.at_home) and not self.at_home.isdisjoint(path.split("/"))

    def needs_carrier(self, response: str | None) -> bool:
        """Whether continuing ``response`` needs a carrier made first."""
        return response is not None and response in self.uncarried

    def carried(self, response: str, carrier: str) -> Translation:
        """This map once ``carrier`` continues ``response`` on the managed side."""
        source, target = response.encode(), carrier.encode()
        return Translation(
            {**self.to_managed, source: target},
            {**self.to_client, target: source},
            self.at_home,
            self.uncarried - {response},
        )

    def request(self, path: str, query: str, body: bytes) -> tuple[str, str, bytes]:
        """The request as the managed side must see it."""
        return (
            _rewrite(path.encode(), self.to_managed).decode(),
            _rewrite(query.encode(), self.to_managed).decode(),
            _rewrite(body, self.to_managed),
        )

    def answer(self) -> AnswerRewriter:
        return AnswerRewriter(self.to_client)


class AnswerRewriter:
    """Rewrites an answer chunk by chunk, holding back the bytes after the last line end."""

    def __init__(self, mapping: dict[bytes, bytes]) -> None:
        self._mapping = mapping
        self._tail = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._tail + chunk
        cut = data.rfind(b"\n") + 1
        self._tail = data[cut:]
        return _rewrite(data[:cut], self._mapping)

    def flush(self) -> bytes:
        data, self._tail = self._tail, b""
        return _rewrite(data, self._mapping)


class Translations:
    """Per-replica cache of the ID maps of evacuated conversations."""

    def __init__(self, db: Database, cache_size: int) -> None:
        self._db = db
        self._size = cache_size
        self._cache: dict[str, Translation] = {}
        self._generation = 0  # bumped by ``forget``: a load that spans it is not cached

    def cached(self, conversation: str) -> Translation | None:
        return self._cache.get(conversation)

    async def get(self, conversation: str) -> Translation:
        found = self._cache.get(conversation)
        if found is not None:
            return found
        generation = self._generation
        translation = await asyncio.to_thread(self._load, conversation)
        if generation == self._generation:
            if len(self._cache) >= self._size:
                del self._cache[next(iter(self._cache))]
            self._cache[conversation] = translation
        return translation

    def replace(self, conversation: str, old: Translation, new: Translation) -> None:
        """Cache ``new`` for the conversation, unless ``old`` is no longer its cached map (the
        pins epoch dropped it: the next request reads the map again)."""
        if self._cache.get(conversation) is old:
            self._cache[conversation] = new

    def forget(self, conversations: Iterable[str]) -> None:
        self._generation += 1
        for conversation in conversations:
            self._cache.pop(conversation, None)

    def _load(self, conversation: str) -> Translation:
        with self._db.session() as session:
            rows = session.execute(
                select(GatewayIdMap.source_id, GatewayIdMap.target_id, GatewayIdMap.kind).where(
                    GatewayIdMap.conversation == conversation
                )
            ).all()
        return Translation.of(
            [(r.source_id, r.target_id) for r in rows if r.kind not in _NOT_RECREATED],
            [r.source_id for r in rows if r.kind in _AT_HOME],
            [r.source_id for r in rows if r.kind == CHAIN_MEMBER],
        )


CHAIN_MEMBER = "chain_member"  # a moved chain's response with no carrier yet
_NOT_RECREATED = frozenset({"run", CHAIN_MEMBER})  # mapped to themselves: nothing to translate
_AT_HOME = frozenset({"run", "response", CHAIN_MEMBER})
