"""The run status machine, as data: one transition table and one ``transition()`` function.

Assistants runs and Responses responses share it (a response never enters ``requires_action``
or ``expired``). Every accepted change is written with an event by the caller (the adapter).
"""

from __future__ import annotations

from homeport.errors import InvalidRequest

QUEUED = "queued"
IN_PROGRESS = "in_progress"
REQUIRES_ACTION = "requires_action"
CANCELLING = "cancelling"
CANCELLED = "cancelled"
FAILED = "failed"
COMPLETED = "completed"
INCOMPLETE = "incomplete"
EXPIRED = "expired"

TERMINAL = frozenset({CANCELLED, FAILED, COMPLETED, INCOMPLETE, EXPIRED})
"""No move leaves these."""

PAUSED = frozenset({REQUIRES_ACTION})
"""Waiting for the client: no worker holds the run."""

ACTIVE = frozenset({IN_PROGRESS, CANCELLING})
"""A worker holds the run under a lease."""

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({IN_PROGRESS, CANCELLED, EXPIRED, FAILED}),
    IN_PROGRESS: frozenset(
        {REQUIRES_ACTION, COMPLETED, INCOMPLETE, FAILED, CANCELLING, CANCELLED, EXPIRED}
    ),
    REQUIRES_ACTION: frozenset({QUEUED, CANCELLING, CANCELLED, EXPIRED, FAILED}),
    CANCELLING: frozenset({CANCELLED, FAILED, EXPIRED}),
    CANCELLED: frozenset(),
    FAILED: frozenset(),
    COMPLETED: frozenset(),
    INCOMPLETE: frozenset(),
    EXPIRED: frozenset(),
}


class IllegalTransition(InvalidRequest):
    """A status change the table does not allow (400 for a client that asks for it)."""


def can_transition(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def transition(current: str, new: str, *, object_name: str = "run") -> str:
    """Return ``new`` if the move is allowed, else raise ``IllegalTransition``."""
    if not can_transition(current, new):
        raise IllegalTransition(
            f"Cannot move {object_name} from status '{current}' to '{new}'.", code="invalid_state"
        )
    return new
