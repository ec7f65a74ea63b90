"""Collaboration: labels, comments, watchers and notifications (the issue's assignee is a column
of `issues`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from trackly.models.base import Base, created_at_column, uuid_pk


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (
        # Names are unique regardless of case ("Bug" and "bug" are one label).
        Index("uq_labels_name_lower", func.lower(text("name")), unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    color: Mapped[str] = mapped_column(String(7), nullable=False)
    description: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    created_at: Mapped[datetime] = created_at_column()


class IssueLabel(Base):
    """Which labels an issue carries; rows go with their issue and with their label."""

    __tablename__ = "issue_labels"
    __table_args__ = (Index("ix_issue_labels_label_id_issue_id", "label_id", "issue_id"),)

    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True)
    label_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True)


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_issue_id_created_at_id", "issue_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), nullable=False)
    # A deleted account leaves its comments, without an author.
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Watcher(Base):
    __tablename__ = "watchers"
    __table_args__ = (Index("ix_watchers_user_id", "user_id"),)

    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = created_at_column()


class Notification(Base):
    """One event delivered to one watcher. Kept when the issue goes (its event outlives it too).
    Or a notice from the server to an ADMIN (no event): `message` says what happened, e.g. why
    a webhook was disabled."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_event_id", "event_id"),
        Index("ix_notifications_unread", "user_id", "id", postgresql_where=text("read_at IS NULL")),
        CheckConstraint("event_id IS NOT NULL OR message IS NOT NULL", name="event_or_message"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    message: Mapped[str | None] = mapped_column(String(500))
    # A notice outlives the hook it is about (its message says what happened).
    webhook_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("webhooks.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
