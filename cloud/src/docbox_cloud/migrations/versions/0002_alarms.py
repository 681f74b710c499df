"""Alarms for the facilities team.

Revision ID: 0002_alarms
Revises: 0001
Create Date: 2026-11-26

``active_key`` is unique and NULL once an alarm is cleared, so an alarm is active at most
once per box, compartment and kind on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_alarms"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the alarms table."""
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("box_id", sa.String(length=63), nullable=False),
        sa.Column("compartment", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("active_key", sa.String(length=120), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raised_seq", sa.BigInteger(), nullable=True),
        sa.Column("cleared_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["box_id"], ["boxes.id"], name=op.f("fk_alarms_box_id_boxes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
        sa.UniqueConstraint("active_key", name=op.f("uq_alarms_active_key")),
    )
    op.create_index("ix_alarms_box_id_raised_at", "alarms", ["box_id", "raised_at"], unique=False)


def downgrade() -> None:
    """Drop the alarms table."""
    op.drop_index("ix_alarms_box_id_raised_at", table_name="alarms")
    op.drop_table("alarms")
