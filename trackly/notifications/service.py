"""The caller's notifications: one row per event on an issue they watched (written with the event,
`trackly.events.service.record`). Read-time filter as well: a reporter only ever gets events of
issues they created, so a stale row (a demoted maintainer) reveals nothing."""

from __future__ import annotations

from sqlalchemy import BigInteger, ColumnElement, cast, func, select, update
from sqlalchemy.orm import Session

from trackly import clock
from trackly.auth.policy import sees_all_issues
from trackly.models import Event, Notification, Role, User
from trackly.notifications.schemas import NotificationOut, NotificationsOut, NotificationsQuery, UnreadOut
from trackly.realtime.service import to_message


def _mine(user: User) -> list[ColumnElement[bool]]:
    where = [Notification.user_id == user.id]
    if not sees_all_issues(user):
        where.append(Event.audience_owner_id == user.id)
    if user.role is not Role.ADMIN:
        # Server notices (no event) are about webhooks, an ADMIN matter: an admin demoted since
        # keeps none of them.
        where.append(Notification.event_id.is_not(None))
    return where


def _unread(user: User, *, session: Session) -> int:
    query = (
        select(cast(func.count(), BigInteger))
        .select_from(Notification)
        .outerjoin(Event, Event.id == Notification.event_id)
        .where(*_mine(user), Notification.read_at.is_(None))
    )
    return session.scalar(query) or 0


def list_notifications(query: NotificationsQuery, *, user: User, session: Session) -> NotificationsOut:
    """Newest first; two queries (the page and the unread count)."""
    page = (
        select(Notification, Event)
        .outerjoin(Event, Event.id == Notification.event_id)
        .where(*_mine(user))
        .order_by(Notification.id.desc())
        .limit(query.limit + 1)
    )
    if query.before is not None:
        page = page.where(Notification.id < query.before)
    if query.unread:
        page = page.where(Notification.read_at.is_(None))
    rows = session.execute(page).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return NotificationsOut(
        items=[
            NotificationOut(
                id=n.id,
                created_at=n.created_at,
                read=n.read_at is not None,
                event=to_message(e) if e is not None else None,
                message=n.message,
                webhook_id=n.webhook_id,
            )
            for n, e in rows
        ],
        unread_count=_unread(user, session=session),
        next_before=rows[-1][0].id if more else None,
    )


def mark_read(up_to: int, *, user: User, session: Session) -> UnreadOut:
    session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.id <= up_to, Notification.read_at.is_(None))
        .values(read_at=clock.now()),
        execution_options={"synchronize_session": False},
    )
    return UnreadOut(unread_count=_unread(user, session=session))
