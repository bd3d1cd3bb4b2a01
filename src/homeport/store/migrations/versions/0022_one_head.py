"""Join the knowledge branch and the cutover branches into one head.

Revision ID: 0022
Revises: 0017, 0021
Create Date: 2026-11-26
"""

from __future__ import annotations

revision = "0022"
down_revision = ("0017", "0021")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
