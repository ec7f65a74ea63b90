"""Request and response bodies of notifications."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from trackly import examples as ex
from trackly.realtime.schemas import EventMessage
from trackly.schemas import QueryModel, RequestModel, Schema

_ITEM = {
    "id": 731,
    "created_at": "2026-11-24T10:02:11Z",
    "read": False,
    "event": ex.EVENT,
    "message": None,
    "webhook_id": None,
}
_NOTICE = {
    "id": 730,
    "created_at": "2026-11-24T09:58:40Z",
    "read": False,
    "event": None,
    "message": "Webhook “CI” was disabled: the receiver answered 410 Gone",
    "webhook_id": "9d3b7f0e-5c2a-4e1b-8f6d-0a9c8b7e6d5f",
}


class NotificationOut(Schema):
    model_config = ex.examples(_ITEM, _NOTICE)

    id: int = Field(description="Increases; `POST /notifications/read` marks up to one of these.")
    created_at: datetime
    read: bool
    event: EventMessage | None = Field(
        description="The event, as sent live and by the catch-up feed (null for a server notice)."
    )
    message: str | None = Field(
        default=None,
        description="A server notice to admins (no event), e.g. why a webhook was disabled.",
    )
    webhook_id: uuid.UUID | None = Field(default=None, description="The webhook a notice is about.")


class NotificationsOut(Schema):
    model_config = ex.examples(
        {
            "items": [_ITEM, _NOTICE],
            "unread_count": 3,
            "next_before": 731,
        }
    )

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
    model_config = ex.examples({"up_to": 731})

    up_to: int = Field(ge=1, le=2**63 - 1, description="Mark this notification and every older one read.")


class UnreadOut(Schema):
    model_config = ex.examples({"unread_count": 0})

    unread_count: int
