"""Unclaimed uploads: an attachment may exist before its issue (the original client's upload).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 21:00:00.000000

`POST /files/upload` stores a verified file owned by the caller (`uploaded_by`) with no issue
yet (`issue_id` NULL); `POST /issues {file_url}` claims it. The partial index serves the cleanup
timer's scan for unclaimed uploads older than a day.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("attachments", "issue_id", existing_type=sa.Uuid(), nullable=True)
    # lock-reviewed: released before the expand/contract rule, while attachments was small; a new index today is built CONCURRENTLY
    op.create_index(
        "ix_attachments_unclaimed_created_at",
        "attachments",
        ["created_at"],
        postgresql_where=sa.text("issue_id IS NULL"),
    )


def downgrade() -> None:
    # Unclaimed uploads cannot exist without the column being nullable; their blobs become
    # orphans that the cleanup timer removes.
    op.execute("DELETE FROM attachments WHERE issue_id IS NULL")
    op.drop_index("ix_attachments_unclaimed_created_at", table_name="attachments")
    op.alter_column("attachments", "issue_id", existing_type=sa.Uuid(), nullable=False)
