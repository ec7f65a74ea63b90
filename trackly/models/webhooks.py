"""Webhooks: subscriptions, one delivery per (event, hook), and every attempt at sending one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from trackly.models.base import Base, created_at_column, uuid_pk


class Webhook(Base):
    __tablename__ = "webhooks"
    __table_args__ = (
        # The write path matches events against active hooks only.
        Index("ix_webhooks_active", "id", postgresql_where=text("active")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    # Event types, or ["*"] for every type.
    events: Mapped[list[str]] = mapped_column(ARRAY(String(40)), nullable=False)
    description: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # Fernet tokens (trackly.webhooks.secrets): never the plain secret.
    secret_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    # The secret before the last rotation, still used to sign until `previous_secret_expires_at`.
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The ADMIN whose authority the hook runs on (its creator, or who last changed its target):
    # deliveries stop when they are no longer an active ADMIN.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class WebhookDelivery(Base):
    """One message to one hook: an event (or a ping), retried until it succeeds or gives up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
        # The timer's claim: due pending deliveries, soonest first.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_created_at", "created_at"),
        Index("ix_webhook_deliveries_event_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False
    )
    # NULL for a ping. A pruned event takes its deliveries with it.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    # The Standard Webhooks `webhook-id`: the same on every attempt and redelivery of a message.
    message_id: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False, server_default="event")
    # pending -> succeeded | failed
    status: Mapped[str] = mapped_column(String(10), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(100))
    # A redelivery points at the delivery it repeats.
    redelivery_of: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at_column()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id_id", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
    )
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    # The error class when no HTTP answer came (timeout, connection, refused_address, ...).
    error: Mapped[str | None] = mapped_column(String(100))
    succeeded: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # The request headers sent, minus the signature.
    request_headers: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    response_excerpt: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
