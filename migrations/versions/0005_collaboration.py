"""Collaboration: labels, issue labels, comments, watchers, notifications, and issues.assignee_id.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-29 20:33:31.000259

Adding the nullable `assignee_id` column is a catalog-only change (no table rewrite); its index is
built once. The `issue_counts` triggers of 0002 ignore the column (an assignment nets to zero).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"  # one linear history: 0002 -> 0003 (uploads) -> 0005
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "labels",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=False),
        sa.Column("description", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
    )
    op.create_index("uq_labels_name_lower", "labels", [sa.literal_column("lower(name)")], unique=True)
    op.create_table(
        "comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_comments_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_comments_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index(
        "ix_comments_issue_id_created_at_id", "comments", ["issue_id", "created_at", "id"], unique=False
    )
    op.create_table(
        "issue_labels",
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("label_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_labels_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["label_id"], ["labels.id"], name=op.f("fk_issue_labels_label_id_labels"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issue_id", "label_id", name=op.f("pk_issue_labels")),
    )
    op.create_index(
        "ix_issue_labels_label_id_issue_id", "issue_labels", ["label_id", "issue_id"], unique=False
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_notifications_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_event_id", "notifications", ["event_id"], unique=False)
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["user_id", "id"],
        unique=False,
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.create_index("ix_notifications_user_id_id", "notifications", ["user_id", "id"], unique=False)
    op.create_table(
        "watchers",
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_watchers_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_watchers_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issue_id", "user_id", name=op.f("pk_watchers")),
    )
    op.create_index("ix_watchers_user_id", "watchers", ["user_id"], unique=False)
    op.add_column("issues", sa.Column("assignee_id", sa.Uuid(), nullable=True))
    # lock-reviewed: released before the expand/contract rule; the column is new and all NULL, but the build still locks issues against writes: today CONCURRENTLY
    op.create_index(
        "ix_issues_assignee_id_created_at_id", "issues", ["assignee_id", "created_at", "id"], unique=False
    )
    # lock-reviewed: the column was added just above, all NULL, so validation reads no row values; today: postgresql_not_valid + VALIDATE CONSTRAINT later
    op.create_foreign_key(
        op.f("fk_issues_assignee_id_users"), "issues", "users", ["assignee_id"], ["id"], ondelete="SET NULL"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_issues_assignee_id_users"), "issues", type_="foreignkey")
    op.drop_index("ix_issues_assignee_id_created_at_id", table_name="issues")
    op.drop_column("issues", "assignee_id")
    op.drop_index("ix_watchers_user_id", table_name="watchers")
    op.drop_table("watchers")
    op.drop_index("ix_notifications_user_id_id", table_name="notifications")
    op.drop_index(
        "ix_notifications_unread", table_name="notifications", postgresql_where=sa.text("read_at IS NULL")
    )
    op.drop_index("ix_notifications_event_id", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_issue_labels_label_id_issue_id", table_name="issue_labels")
    op.drop_table("issue_labels")
    op.drop_index("ix_comments_issue_id_created_at_id", table_name="comments")
    op.drop_table("comments")
    op.drop_index("uq_labels_name_lower", table_name="labels")
    op.drop_table("labels")
