"""checks: a PostgreSQL function that raises a given error, for checks sent without a round trip

``homeport_raise(code, message)`` raises ``message`` with SQLSTATE ``code``. The run engine's
pipelined transactions send checks that call it when what they check no longer holds (a run's
lease, a cached assistant: ``homeport.store.checks``); the error arrives with the commit and the
whole transaction rolls back. SQLite has nothing to create: its checks read a row count.

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-27 11:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION homeport_raise(code text, message text) RETURNS integer
            LANGUAGE plpgsql VOLATILE AS $$
            BEGIN
                RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
            END
            $$
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS homeport_raise(text, text)")
