"""Request and response bodies of notifications."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from trackly.http import QueryModel, RequestModel
from trackly.realtime.schemas import EventMessage
from trackly.schemas import Schema


class NotificationOut(Schema):
    id: int = Field(description="Increases; `POST /notifications/read` marks up to one of these.")
    created_at: datetime
    read: bool
    event: EventMessage = Field(description="The event, as sent live and by the catch-up feed.")


class NotificationsOut(Schema):
    items: list[NotificationOut] = Field(description="Newest first.")
    unread_count: int = Field(description="All the caller's unread notifications, not only this page.")
    next_before: int | None = Field(
        description="Pass as `before` for the next (older) page; null at the end."
    )


class NotificationsQuery(QueryModel):
    before: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="Only notifications older than this id."
    )
    limit: int = Field(default=50, ge=1, le=100)
    unread: bool = Field(default=False, description="Only unread notifications.")


class MarkRead(RequestModel):
    up_to: int = Field(ge=1, le=2**63 - 1, description="Mark this notification and every older one read.")


class UnreadOut(Schema):
    unread_count: int
