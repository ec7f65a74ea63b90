"""The append-only events table: outbox for live updates, issue history, statistics source."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Identity, Index, String, false, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from trackly.models.base import Base, created_at_column


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_issue_id_id", "issue_id", "id"),
        Index("ix_events_audience_owner_id_id", "audience_owner_id", "id"),
        Index("ix_events_created_at", "created_at"),
        # The outbox: only unpublished rows, oldest first.
        Index("ix_events_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )

    # A bigint sequence: the cursor for catch-up feeds and the dedupe key for clients.
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    # No foreign key: history outlives a deleted issue.
    issue_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The issue's creator: who besides staff may see this event.
    audience_owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = created_at_column()
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # History copied in by an import (migration 0012): it is the issue's history, but no channel
    # (live updates, the catch-up feed, notifications, webhooks, email) may send it anywhere.
    imported: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
