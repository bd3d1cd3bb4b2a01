"""API keys and projects: create, verify, list, revoke. Secrets are shown once and stored hashed."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from homeport.errors import NotFound
from homeport.ids import new_id
from homeport.store.models import ApiKey, Project, now

KEY_PREFIX = "hp-"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a project, and whether the key may use admin-only paths."""

    project_id: str
    key_id: str
    admin: bool


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def ensure_project(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        project = Project(id=new_id("proj"), name=name)
        session.add(project)
        session.flush()
    return project


def create_key(
    session: Session, *, project: str, name: str, admin: bool = False, secret: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key in ``project`` (made if missing); returns the row and the secret."""
    secret = secret or KEY_PREFIX + secrets.token_urlsafe(32)
    proj = ensure_project(session, project)
    key = ApiKey(
        id=new_id("key"),
        project_id=proj.id,
        name=name,
        secret_hash=hash_secret(secret),
        redacted=f"{secret[:6]}...{secret[-4:]}",
        admin=admin,
    )
    session.add(key)
    session.flush()
    return key, secret


def ensure_key(session: Session, *, project: str, name: str, secret: str, admin: bool) -> ApiKey:
    """Create the key with this exact secret unless it exists (seeding from the environment)."""
    existing = session.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)))
    if existing is not None:
        return existing
    return create_key(session, project=project, name=name, admin=admin, secret=secret)[0]


def verify(session: Session, secret: str) -> Principal | None:
    key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)))
    if key is None or key.revoked_at is not None:
        return None
    return Principal(project_id=key.project_id, key_id=key.id, admin=key.admin)


def list_keys(session: Session) -> list[tuple[ApiKey, str]]:
    rows = session.execute(
        select(ApiKey, Project.name)
        .join(Project, Project.id == ApiKey.project_id)
        .order_by(ApiKey.seq)
    )
    return [(key, project_name) for key, project_name in rows]


def revoke(session: Session, key_id: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id))
    if key is None:
        raise NotFound(f"No API key with id '{key_id}': see 'homeport keys list'.")
    if key.revoked_at is None:
        key.revoked_at = now()
    return key
