"""Public object IDs: new ones shaped like OpenAI's, or an original one kept from an import."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from homeport.errors import Conflict, InvalidRequest
from homeport.ids import new_id

MAX_ID_LENGTH = 64


def assign_id(session: Session, model: Any, *, prefix: str, object_id: str | None) -> str:
    """A fresh ``<prefix>_…`` ID, or ``object_id`` once it is known to be free (409 if taken)."""
    if object_id is None:
        return new_id(prefix)
    if not object_id or len(object_id) > MAX_ID_LENGTH:
        raise InvalidRequest(
            f"An object ID must be 1 to {MAX_ID_LENGTH} characters; got {len(object_id)}.",
            param="id",
        )
    if session.scalar(select(model.seq).where(model.id == object_id)) is not None:
        raise Conflict(f"An object with id '{object_id}' already exists.", param="id")
    return object_id
