"""Email notifications: preferences (per user, and the organisation's default per role), the
unique sent record per (notification, channel), and replies by email already turned into
comments (migration 0011)."""

from __future__ import annotations

import uuid
from datetime import datetime, time

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Time,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from trackly.models.base import Base, created_at_column


class _Preferences:
    email: Mapped[str] = mapped_column(String(10), nullable=False)  # off | instant | daily
    reasons: Mapped[list[str]] = mapped_column(ARRAY(String(20)), nullable=False)
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False)
    digest_hour: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class NotificationSettings(_Preferences, Base):
    """A user's own choice; without a row the organisation's (or the built-in) default applies."""

    __tablename__ = "notification_settings"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    email_refused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    email_refused_detail: Mapped[str | None] = mapped_column(String(300))


class NotificationDefault(_Preferences, Base):
    """The organisation's default for one role, set by an ADMIN."""

    __tablename__ = "notification_defaults"

    role: Mapped[str] = mapped_column(String(20), primary_key=True)


class NotificationDelivery(Base):
    """One notification on one channel: its primary key is what makes sending happen at most once."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        Index(
            "ix_notification_deliveries_due",
            "channel",
            "due_at",
            postgresql_where=text("status IN ('waiting', 'retry')"),
        ),
        CheckConstraint(
            "status IN ('waiting', 'sending', 'sent', 'retry', 'skipped', 'failed')", name="status"
        ),
    )

    notification_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    attempts: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="0")
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class InboundReply(Base):
    """A reply by email already handled: its Message-ID makes a replay add nothing."""

    __tablename__ = "inbound_replies"
    __table_args__ = (
        Index(
            "ix_inbound_replies_bounce",
            "created_at",
            postgresql_where=text("bounce_to IS NOT NULL AND bounced_at IS NULL"),
        ),
    )

    message_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    # No foreign key: a record of what was done, kept when the comment goes.
    comment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)  # comment | refused
    detail: Mapped[str | None] = mapped_column(String(300))
    bounce_to: Mapped[str | None] = mapped_column(String(320))
    bounced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
