"""Daily insights: open issues per assignee, unassigned open issues, median time to first response.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 21:30:00.000000

Nullable / defaulted columns: catalog-only changes. Existing rows read `{}` and NULL until a run
recomputes them (a rebuild of past days fills them in from the events); a row whose
unassigned_open is NULL is never used as the base of an incremental run.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "daily_stats",
        sa.Column(
            "open_by_assignee",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    # NULL marks a row computed before this revision: the next run does not build on it.
    op.add_column("daily_stats", sa.Column("unassigned_open", sa.Integer(), nullable=True))
    op.add_column("daily_stats", sa.Column("median_hours_to_first_response", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("daily_stats", "median_hours_to_first_response")
    op.drop_column("daily_stats", "unassigned_open")
    op.drop_column("daily_stats", "open_by_assignee")
