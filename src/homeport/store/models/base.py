"""Declarative base and column types shared by every model.

Each table has ``seq``, a database-assigned integer that orders rows by insertion and makes
cursor pagination stable, and a public string ``id`` (``asst_…``) that may come from an import.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = JSON().with_variant(JSONB(), "postgresql")
SeqType = BigInteger().with_variant(Integer(), "sqlite")


def now() -> int:
    """Unix seconds, as every OpenAI object's timestamps."""
    return int(time.time())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: Json, list[Any]: Json}


class SeqMixin:
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
