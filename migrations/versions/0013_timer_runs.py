"""The last run of each timer function: `timer_runs`.

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-08 01:00:00.000000

Written by trackly/http/timers.py after every run (success or failure) and read by the operator's
readiness check (GET /health/ready): a timer whose last success is older than its schedule allows
has failed or stopped firing. A new table: nothing the running API reads changes (expand only).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "timer_runs",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_timer_runs")),
    )


def downgrade() -> None:
    op.drop_table("timer_runs")
