"""Email notifications: why a notification was sent, preferences, deliveries, inbound replies.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 01:00:00.000000

- `notifications.reason`: why the user got it (assigned, mentioned, commented, status_changed,
  created, watching). Existing rows are backfilled from their event's type (an old assignment
  names its assignee in the payload; mentions were never recorded, so none become `mentioned`).
- `notification_settings`: one row per user who chose their own preferences; without a row the
  organisation default for their role applies (`notification_defaults`), else the built-in one.
- `notification_deliveries`: one row per (notification, channel), the unique sent record that
  keeps two timer runs from sending the same email twice. `due_at` is when a waiting row
  (digest, quiet hours) or a retry is looked at again.
- `inbound_replies`: the Message-ID of every reply by email already handled (a comment, or a
  refusal with its pending bounce).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = "('created', 'assigned', 'mentioned', 'commented', 'status_changed', 'watching', 'notice')"


def _preferences() -> list[sa.Column[object]]:
    return [
        sa.Column("email", sa.String(10), nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.String(20)), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("digest_hour", sa.SmallInteger(), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def upgrade() -> None:
    op.add_column(
        "notifications",
        sa.Column("reason", sa.String(20), nullable=False, server_default="watching"),
    )
    # lock-reviewed: no release with notifications has been deployed yet (Trackly Functions' first
    # deployment runs every migration on an empty database); a later backfill would go in batches
    op.execute(
        """
        UPDATE notifications n SET reason = CASE
            WHEN e.payload->'changes'->'assignee_id'->>1 = n.user_id::text THEN 'assigned'
            WHEN e.type = 'comment_added' THEN 'commented'
            WHEN e.type = 'issue_status_changed' THEN 'status_changed'
            WHEN e.type = 'issue_created' THEN 'created'
            ELSE 'watching' END
        FROM events e WHERE e.id = n.event_id
        """
    )
    # Webhook notices to admins (0010) have no event.
    # lock-reviewed: as above, notices are at most a handful of rows per webhook
    op.execute("UPDATE notifications SET reason = 'notice' WHERE event_id IS NULL")
    # Every row was just given a valid reason: the check needs no scan under the lock.
    op.create_check_constraint("reason", "notifications", f"reason IN {REASONS}", postgresql_not_valid=True)
    # lock-reviewed: as for the backfill; on a populated table this would be built CONCURRENTLY
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"])

    op.create_table(
        "notification_settings",
        sa.Column(
            "user_id",
            sa.Uuid(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_notification_settings_user_id_users"),
            primary_key=True,
        ),
        *_preferences(),
        # Set when the mail server refused the address for good (email was switched off).
        sa.Column("email_refused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_refused_detail", sa.String(300), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_notification_settings"),
    )
    op.create_table(
        "notification_defaults",
        sa.Column("role", sa.String(20), nullable=False),
        *_preferences(),
        sa.PrimaryKeyConstraint("role", name="pk_notification_defaults"),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.Column("detail", sa.String(300), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            ondelete="CASCADE",
            name="fk_notification_deliveries_notification_id_notifications",
        ),
        sa.PrimaryKeyConstraint("notification_id", "channel", name="pk_notification_deliveries"),
        sa.CheckConstraint(
            "status IN ('waiting', 'sending', 'sent', 'retry', 'skipped', 'failed')",
            name="ck_notification_deliveries_status",
        ),
    )
    op.create_index(
        "ix_notification_deliveries_due",
        "notification_deliveries",
        ["channel", "due_at"],
        postgresql_where=sa.text("status IN ('waiting', 'retry')"),
    )
    op.create_table(
        "inbound_replies",
        sa.Column("message_id", sa.String(300), nullable=False),
        # No foreign key: a record of what was done, kept when the comment goes.
        sa.Column("comment_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("detail", sa.String(300), nullable=True),
        # A refused reply's short bounce, sent by the email timer (never by the request).
        sa.Column("bounce_to", sa.String(320), nullable=True),
        sa.Column("bounced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_inbound_replies"),
    )
    op.create_index(
        "ix_inbound_replies_bounce",
        "inbound_replies",
        ["created_at"],
        postgresql_where=sa.text("bounce_to IS NOT NULL AND bounced_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_replies_bounce", table_name="inbound_replies")
    op.drop_table("inbound_replies")
    op.drop_index("ix_notification_deliveries_due", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_table("notification_defaults")
    op.drop_table("notification_settings")
    op.drop_index("ix_notifications_created_at", table_name="notifications")
    op.drop_constraint("reason", "notifications", type_="check")
    op.drop_column("notifications", "reason")
