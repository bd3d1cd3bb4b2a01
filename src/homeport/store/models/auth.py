"""Projects and their API keys. Every object belongs to exactly one project."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from homeport.store.models.base import Base, SeqMixin, now


class Project(SeqMixin, Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    created_at: Mapped[int] = mapped_column(default=now)


class ApiKey(SeqMixin, Base):
    """An API key, stored as the sha256 of its secret (keys are random, so no salt is needed)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    redacted: Mapped[str] = mapped_column(String(32))
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(default=now)
    last_used_at: Mapped[int | None] = mapped_column(default=None)
    revoked_at: Mapped[int | None] = mapped_column(default=None)
