"""HTTP functions for the caller's notifications."""

from typing import TYPE_CHECKING

import azure.functions as func

from trackly.auth.policy import Action
from trackly.http import Call, Reply, endpoint
from trackly.lazy import lazy
from trackly.notifications.schemas import MarkRead, NotificationsOut, NotificationsQuery, UnreadOut

if TYPE_CHECKING:
    from trackly.notifications import service
else:  # imported by the first request that needs them: keeps the ORM out of cold start
    service = lazy("trackly.notifications.service")


bp = func.Blueprint()

TAGS = ["notifications"]


@endpoint(
    bp,
    "GET",
    "notifications",
    summary="The caller's notifications",
    tags=TAGS,
    action=Action.NOTIFICATIONS_READ,
    query=NotificationsQuery,
    response=NotificationsOut,
)
def list_notifications(call: Call[None, NotificationsQuery, None]) -> Reply:
    """Events on issues the caller watches (not their own changes), newest first, with the unread
    count. Page with `before=<next_before>`. A REPORTER only ever sees events of their own issues."""
    page = service.list_notifications(call.query, user=call.user, session=call.session)
    return Reply(page, headers={"Cache-Control": "no-store"})


@endpoint(
    bp,
    "POST",
    "notifications/read",
    summary="Mark notifications read",
    tags=TAGS,
    action=Action.NOTIFICATIONS_READ,
    body=MarkRead,
    response=UnreadOut,
)
def mark_notifications_read(call: Call[None, None, MarkRead]) -> UnreadOut:
    """Marks `up_to` and every older notification of the caller read; answers the unread count."""
    return service.mark_read(call.body.up_to, user=call.user, session=call.session)
