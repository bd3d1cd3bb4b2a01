"""Evacuation: moving the conversations pinned to homeport to the managed side after a rollback.

Each thread, Responses conversation and response chain the rollout's gateway pinned to homeport
goes through:

1. **copying**: runs in progress on homeport get ``run_wait_seconds`` to finish, then are
   cancelled; an empty container is created on the managed side and its ID recorded *before*
   anything is replayed; the transcript is replayed in order, each new ID recorded as it comes
   (``gateway_id_map``: what the gateway translates with). The thread's runs are recorded as
   staying on homeport (a client polling one reads it there, finished). A response chain
   (``previous_response_id`` only) has no container: its whole transcript becomes the input of one
   stored managed response, mapped from the chain's newest response; the chain's other responses
   are recorded as ``chain_member`` (the gateway makes a carrier for one when a client branches
   from it, ``gateway.carriers``), and the pins of all of them are the ones moved.
2. **switched**: in one transaction under the rollout's row lock the pin moves to the managed side
   and the rollout's pins epoch rises; every gateway replica re-reads moved pins within its
   routing refresh, so from then on the conversation's requests go to the managed side.
3. **done**: after ``settle_seconds`` (the replicas have followed), whatever reached homeport in
   between is copied too, the epoch rises again (replicas drop the stale ID map), and the move
   goes to the audit log with its evidence.

Resumable and idempotent: progress lives in ``rollout_evacuations`` and the ID map, and a rerun
takes each conversation up where it stood. Before the switch only the evacuation writes to the
managed container, so entries it holds beyond those recorded (a crash between the platform's
answer and the record) are matched by position, never replayed twice. One window is left: a
crash between ``create`` answering and its ID being recorded leaves an empty container on the
managed side that nothing points to (OpenAI cannot list threads to find it again).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import openai
from sqlalchemy import func, select, update

from homeport.config import ConfigError
from homeport.gateway.seams import Upstream
from homeport.gateway.translate import CHAIN_MEMBER
from homeport.rollout import state as st
from homeport.rollout.plan import Evacuation
from homeport.rollout.transcripts import (
    ChainTranscript,
    ConversationTranscript,
    RunsStillActive,
    Source,
    ThreadTranscript,
    Transcript,
)
from homeport.store.db import Database
from homeport.store.models.gateway import GatewayIdMap, GatewayPin
from homeport.store.models.rollout import RolloutEvacuation
from homeport.tls import Reload

COPYING, SWITCHED, DONE, FAILED = "copying", "switched", "done", "failed"
EVACUATED, NOT_EVACUATED = "evacuate-conversation", "evacuate-failed"

Progress = Callable[[str, int, int], None]
"""``(stage, done, total)``: stages are "copy" and "finish"."""


@dataclass(frozen=True)
class EvacuationResult:
    moved: int  # conversations moved in this run (or found deleted on homeport: nothing to move)
    failed: int  # conversations that failed in this run (they stay where they are; rerun)
    remaining: int  # evacuable conversations still not moved
    errors: dict[str, str] = field(default_factory=dict)
    # Renewed TLS files taken or refused while it ran, by side and outcome (as the gateway's
    # ``tls_reloads_total``: a command has no registry, so the audit log keeps them).
    tls_reloads: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.remaining == 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "complete": self.complete}


class Evacuator:
    def __init__(
        self,
        db: Database,
        rollout_id: str,
        *,
        homeport: openai.OpenAI,
        managed: openai.OpenAI,
        run_wait_seconds: float = 60.0,
        settle_seconds: float = 3.0,
        poll_seconds: float = 0.2,
        actor: str = "controller",
        progress: Progress | None = None,
        tls_reloads: dict[str, dict[str, int]] | None = None,
    ) -> None:
        """``tls_reloads``: filled by the clients' TLS as files are renewed (``from_settings``)."""
        self.db = db
        self.tls_reloads = tls_reloads if tls_reloads is not None else {}
        self.rollout_id = rollout_id
        self.run_wait_seconds = run_wait_seconds
        self.settle_seconds = settle_seconds
        self.poll_seconds = poll_seconds
        self.actor = actor
        self.progress = progress or (lambda stage, done, total: None)
        self.transcripts: dict[str, Transcript] = {
            t.kind: t
            for t in (
                ThreadTranscript(homeport, managed),
                ConversationTranscript(homeport, managed),
            )
        }
        self.chains = ChainTranscript(homeport, managed)

    @classmethod
    def from_settings(
        cls, db: Database, rollout_id: str, settings: Evacuation, **options: Any
    ) -> Evacuator:
        """Clients for both sides from ``[rollout.evacuation]`` (no request is made yet)."""

        reloads: dict[str, dict[str, int]] = {}

        def counted(side: str) -> Callable[[Reload], None]:
            def count(outcome: Reload) -> None:
                outcomes = reloads.setdefault(side, {})
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

            return count

        def client(side: Literal["managed", "homeport"]) -> openai.OpenAI:
            url = getattr(settings, f"{side}_base_url")
            env = getattr(settings, f"{side}_api_key_env")
            if not url:
                raise ConfigError(
                    f"setting 'rollout.evacuation.{side}_base_url': needed to evacuate "
                    "conversations: add it to homeport.toml"
                )
            key = os.environ.get(env)
            if not key:
                raise ConfigError(
                    f"setting 'rollout.evacuation.{side}_api_key_env': environment variable "
                    f"{env} is empty: export the {side} side's API key"
                )
            tls = settings.tls(side, counted(side))
            return openai.OpenAI(
                base_url=url,
                api_key=key,
                max_retries=5,
                http_client=None
                if tls is None
                else openai.DefaultHttpxClient(transport=tls.httpx_transport()),
            )

        return cls(
            db,
            rollout_id,
            homeport=client("homeport"),
            managed=client("managed"),
            run_wait_seconds=settings.run_wait_seconds,
            settle_seconds=settings.settle_seconds,
            tls_reloads=reloads,
            **options,
        )

    # -- what there is to do -------------------------------------------------------------------
    def todo(self) -> list[tuple[str, str]]:
        """``(homeport ID, kind)`` of the conversations still to move, oldest first: those pinned
        to homeport, and those whose pin moved but whose move is not finished; then the response
        chains (by their first response) not moved yet."""
        containers = select(GatewayPin.key).where(GatewayPin.kind == "conversation")
        handled = select(RolloutEvacuation.key).where(
            RolloutEvacuation.rollout_id == self.rollout_id,
            RolloutEvacuation.status.in_((SWITCHED, DONE)),
        )
        with self.db.sessions() as session:
            pinned = session.execute(
                select(GatewayPin.key, GatewayPin.kind)
                .where(
                    GatewayPin.gateway == self.rollout_id,
                    GatewayPin.side == Upstream.HOMEPORT.value,
                    GatewayPin.kind.in_(tuple(self.transcripts)),
                    GatewayPin.key == GatewayPin.conversation,
                )
                .order_by(GatewayPin.seq)
            ).all()
            switched = session.execute(
                select(RolloutEvacuation.key, RolloutEvacuation.kind)
                .where(
                    RolloutEvacuation.rollout_id == self.rollout_id,
                    RolloutEvacuation.status == SWITCHED,
                )
                .order_by(RolloutEvacuation.seq)
            ).all()
            chains = session.scalars(
                select(GatewayPin.conversation)
                .where(
                    GatewayPin.gateway == self.rollout_id,
                    GatewayPin.side == Upstream.HOMEPORT.value,
                    GatewayPin.kind == ChainTranscript.kind,
                    GatewayPin.conversation.not_in(containers),
                    GatewayPin.conversation.not_in(handled),
                )
                .group_by(GatewayPin.conversation)
                .order_by(func.min(GatewayPin.seq))
            ).all()
        return (
            [(r.key, r.kind) for r in switched]
            + [(r.key, r.kind) for r in pinned]
            + [(c, ChainTranscript.kind) for c in chains]
        )

    # -- the job -------------------------------------------------------------------------------
    def run(self, limit: int | None = None) -> EvacuationResult:
        """Move up to ``limit`` conversations (all by default)."""
        todo = self.todo()
        total = len(todo)
        todo = todo[:limit] if limit is not None else todo
        errors: dict[str, str] = {}
        switched: list[str] = []
        self.progress("copy", 0, len(todo))
        for n, (key, kind) in enumerate(todo, 1):
            try:
                if self._status(key) != SWITCHED:
                    self._copy_and_switch(key, kind)
                switched.append(key)
            except (openai.OpenAIError, RunsStillActive) as exc:
                errors[key] = self._fail(key, kind, exc)
            self.progress("copy", n, len(todo))
        if switched:
            time.sleep(self.settle_seconds)
        moved = 0
        self.progress("finish", 0, len(switched))
        for n, key in enumerate(switched, 1):
            try:
                self._finish(key)
                moved += 1
            except (openai.OpenAIError, RunsStillActive) as exc:
                errors[key] = self._fail(key, self._row(key).kind, exc)
            self.progress("finish", n, len(switched))
        reloads = {side: dict(outcomes) for side, outcomes in self.tls_reloads.items()}
        return EvacuationResult(moved, len(errors), total - moved, errors, reloads)

    def _copy_and_switch(self, key: str, kind: str) -> None:
        if kind == ChainTranscript.kind:
            self._carry_chain(key)
            return
        transcript = self.transcripts[kind]
        target = self._begin(key, kind)
        try:
            drained = transcript.drain(key, self.run_wait_seconds, self.poll_seconds)
            source = transcript.read(key)
        except openai.NotFoundError:
            if target is not None:
                raise
            # Deleted on homeport by its client: nothing to copy; once the pin points to the
            # managed side, that side answers 404 for it as homeport did.
            self._move_pin(key, SWITCHED, {"kind": kind, "homeport_id": key, "gone": True})
            return
        resumed = target is not None
        if target is None:
            target = transcript.create(source)
            self._record_target(key, kind, target)
        recovered = self._replay(key, target, transcript, source, recover=resumed)
        at_home = self._keep_at_home(key, transcript)
        evidence = {
            "kind": kind,
            "homeport_id": key,
            "managed_id": target,
            f"{transcript.entry_kind}s": len(source.entries),
            # On the managed side now (across attempts); ``recovered``: found there after a
            # crash instead of being sent again.
            "replayed": len(self._mapped(key, transcript.entry_kind)),
            "recovered": recovered,
            "skipped": source.skipped,
            "at_home": at_home,
            "runs_waited": drained.waited,
            "runs_cancelled": drained.cancelled,
        }
        self._move_pin(key, SWITCHED, evidence)

    def _carry_chain(self, root: str) -> None:
        """Move a response chain: its newest response on homeport is continued on the managed
        side from one response that carries the whole transcript."""
        target = self._begin(root, ChainTranscript.kind)
        # A carrier made before a crash is reused: it was recorded with the response it continues.
        last = self._carried(root)[target] if target else self._newest_response(root) or root
        try:
            source = self.chains.read(last)
        except openai.NotFoundError:  # deleted on homeport by its client: nothing to carry
            gone = {"kind": ChainTranscript.kind, "homeport_id": root, "gone": True}
            self._record_members(root)
            self._move_pin(root, SWITCHED, gone, chain=True)
            return
        if target is None:
            target = self.chains.carry(source)
            self._record_target(root, ChainTranscript.kind, target, source_id=last)
        evidence = {
            "kind": ChainTranscript.kind,
            "homeport_id": root,
            "managed_id": target,
            "last": last,
            "responses": len({rid for rid, _ in source.entries}),
            "items": len(source.entries),
            "skipped": source.skipped,
            "members": self._record_members(root),
            "late": 0,
        }
        self._move_pin(root, SWITCHED, evidence, chain=True)

    def _finish_chain(self, root: str, evidence: dict[str, Any]) -> None:
        """A response added to the chain on homeport before every replica followed the move is
        carried over too, and the chain goes on from there; other responses added meanwhile (a
        branch) become members."""
        evidence = dict(evidence)
        last = self._newest_response(root, after=evidence["last"])
        if last is not None and last not in self._carried(root).values():
            target = self.chains.carry(self.chains.read(last))
            self._record_target(root, ChainTranscript.kind, target, source_id=last)
            evidence.update(managed_id=target, last=last, late=evidence["late"] + 1)
            self._move_pin(root, SWITCHED, evidence, chain=True)
        evidence["members"] = self._record_members(root)
        self._move_pin(root, DONE, evidence, chain=True)

    def _finish(self, key: str) -> None:
        row = self._row(key)
        if row.target is None:  # gone from homeport
            self._move_pin(key, DONE, row.evidence)
            return
        if row.kind == ChainTranscript.kind:
            self._finish_chain(key, row.evidence)
            return
        transcript = self.transcripts[row.kind]
        drained = transcript.drain(key, self.run_wait_seconds, self.poll_seconds)
        mapped = len(self._mapped(key, transcript.entry_kind))
        self._replay(key, row.target, transcript, transcript.read(key), recover=False)
        evidence = dict(row.evidence)
        evidence["late"] = len(self._mapped(key, transcript.entry_kind)) - mapped
        evidence["at_home"] = evidence.get("at_home", 0) + self._keep_at_home(key, transcript)
        evidence["runs_waited"] += drained.waited
        evidence["runs_cancelled"] += drained.cancelled
        self._move_pin(key, DONE, evidence)

    def _replay(
        self, key: str, target: str, transcript: Transcript, source: Source, *, recover: bool
    ) -> int:
        """Append the entries not yet in the ID map; returns how many were recovered."""
        mapped = self._mapped(key, transcript.entry_kind)
        pending = [(sid, body) for sid, body in source.entries if sid not in mapped]
        recovered = 0
        if recover and pending:
            # Entries the managed side holds beyond the recorded ones were ours, in order.
            unrecorded = transcript.existing(target)[len(mapped) :]
            matched = [(sid, tid) for (sid, _), tid in zip(pending, unrecorded, strict=False)]
            self._record(key, transcript.entry_kind, matched)
            recovered, pending = len(matched), pending[len(matched) :]
        for start in range(0, len(pending), transcript.batch):
            chunk = pending[start : start + transcript.batch]
            created = transcript.append(target, [body for _, body in chunk])
            pairs = list(zip([sid for sid, _ in chunk], created, strict=True))
            self._record(key, transcript.entry_kind, pairs)
        return recovered

    # -- the store -----------------------------------------------------------------------------
    def _row(self, key: str) -> RolloutEvacuation:
        with self.db.sessions() as session:
            return session.scalars(
                select(RolloutEvacuation).where(RolloutEvacuation.key == key)
            ).one()

    def _status(self, key: str) -> str | None:
        with self.db.sessions() as session:
            return session.scalar(
                select(RolloutEvacuation.status).where(RolloutEvacuation.key == key)
            )

    def _begin(self, key: str, kind: str) -> str | None:
        """Mark the conversation as being copied; the managed container's ID if it has one."""
        with self.db.session() as session:
            row = session.scalars(
                select(RolloutEvacuation).where(RolloutEvacuation.key == key)
            ).first()
            if row is None:
                row = RolloutEvacuation(
                    rollout_id=self.rollout_id, key=key, kind=kind, attempts=0, evidence={}
                )
                session.add(row)
            row.status, row.error, row.updated_at = COPYING, None, time.time()
            row.attempts += 1
            target = row.target
        return target

    def _record(self, key: str, kind: str, pairs: list[tuple[str, str]]) -> None:
        """Store IDs the managed side assigned to the conversation's entries."""
        with self.db.session() as session:
            session.add_all(
                GatewayIdMap(source_id=source, target_id=target, kind=kind, conversation=key)
                for source, target in pairs
            )

    def _keep_at_home(self, key: str, transcript: Transcript) -> int:
        """Record the conversation's objects that stay on homeport; how many were new."""
        known = self._mapped(key, "run")
        new = [i for i in transcript.at_home(key) if i not in known]
        self._record(key, "run", [(i, i) for i in new])
        return len(new)

    def _newest_response(self, root: str, after: str | None = None) -> str | None:
        """The chain's newest response pinned to homeport (made after ``after``'s, if given)."""
        with self.db.sessions() as session:
            query = select(GatewayPin.key).where(
                GatewayPin.gateway == self.rollout_id,
                GatewayPin.conversation == root,
                GatewayPin.side == Upstream.HOMEPORT.value,
            )
            if after is not None:
                query = query.where(
                    GatewayPin.seq
                    > select(GatewayPin.seq).where(GatewayPin.key == after).scalar_subquery()
                )
            return session.scalar(query.order_by(GatewayPin.seq.desc()).limit(1))

    def _record_members(self, root: str) -> int:
        """Record the chain's responses on homeport that the ID map does not hold yet as
        ``chain_member`` (mapped to themselves: no carrier yet); returns how many responses of
        the chain the map holds (each goes on from a carrier on the managed side)."""
        with self.db.session() as session:
            known = set(
                session.scalars(
                    select(GatewayIdMap.source_id).where(
                        GatewayIdMap.conversation == root,
                        GatewayIdMap.kind.in_(_CHAIN_KINDS),
                    )
                )
            )
            responses = session.scalars(
                select(GatewayPin.key).where(
                    GatewayPin.gateway == self.rollout_id,
                    GatewayPin.conversation == root,
                    GatewayPin.side == Upstream.HOMEPORT.value,
                    GatewayPin.kind == ChainTranscript.kind,
                )
            ).all()
            new = [r for r in responses if r not in known]
            session.add_all(
                GatewayIdMap(source_id=r, target_id=r, kind=CHAIN_MEMBER, conversation=root)
                for r in new
            )
            return len(known) + len(new)

    def _carried(self, root: str) -> dict[str, str]:
        """Managed carrier response -> the chain's response it continues."""
        with self.db.sessions() as session:
            rows = session.execute(
                select(GatewayIdMap.source_id, GatewayIdMap.target_id).where(
                    GatewayIdMap.conversation == root, GatewayIdMap.kind == ChainTranscript.kind
                )
            ).all()
        return {r.target_id: r.source_id for r in rows}

    def _record_target(
        self, key: str, kind: str, target: str, *, source_id: str | None = None
    ) -> None:
        with self.db.session() as session:
            session.add(
                GatewayIdMap(
                    source_id=source_id or key, target_id=target, kind=kind, conversation=key
                )
            )
            session.execute(
                update(RolloutEvacuation)
                .where(RolloutEvacuation.key == key)
                .values(target=target, updated_at=time.time())
            )

    def _mapped(self, key: str, entry_kind: str) -> set[str]:
        with self.db.sessions() as session:
            return set(
                session.scalars(
                    select(GatewayIdMap.source_id).where(
                        GatewayIdMap.conversation == key, GatewayIdMap.kind == entry_kind
                    )
                )
            )

    def _move_pin(
        self, key: str, status: str, evidence: dict[str, Any], *, chain: bool = False
    ) -> None:
        """Point the pin (the conversation's own, or for a ``chain`` those of the responses its
        ID map holds) at the managed side (again, when done: replicas drop the stale map),
        raising the pins epoch in the same transaction; a finished move is audited."""
        now = time.time()
        moved = (
            GatewayPin.key.in_(
                select(GatewayIdMap.source_id).where(
                    GatewayIdMap.conversation == key, GatewayIdMap.kind.in_(_CHAIN_KINDS)
                )
            )
            if chain
            else GatewayPin.key == key
        )
        with st.locked(self.db, self.rollout_id, now) as (session, rollout):
            rollout.pins_epoch += 1
            session.execute(
                update(GatewayPin)
                .where(moved)
                .values(side=Upstream.MANAGED.value, epoch=rollout.pins_epoch)
            )
            session.execute(
                update(RolloutEvacuation)
                .where(RolloutEvacuation.key == key)
                .values(status=status, evidence=evidence, updated_at=now)
            )
            if status == DONE:
                st.decide(
                    session,
                    rollout,
                    now=now,
                    action=EVACUATED,
                    actor=self.actor,
                    reason=_moved(key, evidence),
                    evidence=evidence,
                )

    def _fail(self, key: str, kind: str, exc: Exception) -> str:
        """Record why a conversation did not move (it stays put; a rerun retries it)."""
        error = f"{type(exc).__name__}: {exc}"
        now = time.time()
        with st.locked(self.db, self.rollout_id, now) as (session, rollout):
            row = session.scalars(
                select(RolloutEvacuation).where(RolloutEvacuation.key == key)
            ).first()
            if row is not None:
                row.error, row.updated_at = error, now
                if row.status == COPYING:
                    row.status = FAILED
            st.decide(
                session,
                rollout,
                now=now,
                action=NOT_EVACUATED,
                actor=self.actor,
                reason=f"{kind} {key} not moved yet: {error}",
                evidence={"kind": kind, "homeport_id": key, "error": error},
            )
        return error


_CHAIN_KINDS = (ChainTranscript.kind, CHAIN_MEMBER)  # a moved chain's responses in the ID map


def _moved(key: str, evidence: dict[str, Any]) -> str:
    if evidence.get("gone"):
        return f"{evidence['kind']} {key} was deleted on homeport: nothing to move"
    late = f", {evidence['late']} arrived during the move" if evidence["late"] else ""
    if evidence["kind"] == ChainTranscript.kind:
        return (
            f"response chain {key} moved: {evidence['last']} goes on from "
            f"{evidence['managed_id']} on the managed side ({evidence['items']} items carried"
            f"{late})"
        )
    return (
        f"{evidence['kind']} {key} moved to the managed side as {evidence['managed_id']}: "
        f"{evidence['replayed']} entries replayed{late}"
    )
