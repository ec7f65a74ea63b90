"""Live-update messages, client negotiation and the catch-up feed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from trackly.auth.policy import sees_all_issues
from trackly.config import Settings
from trackly.errors import ServiceUnavailable
from trackly.models import Event, User
from trackly.realtime import groups as realtime_groups
from trackly.realtime.client import get_client
from trackly.realtime.schemas import EventFeed, EventMessage, NegotiateOut

T = TypeVar("T")


def to_message(event: Event) -> EventMessage:
    """The wire shape of an event: `{id, type, issue_id, user_id, user_name, timestamp, data}`."""
    payload: dict[str, Any] = dict(event.payload or {})
    user_name = payload.pop("actor_name", None)
    return EventMessage(
        id=event.id,
        type=event.type,
        issue_id=event.issue_id,
        user_id=event.actor_id,
        user_name=user_name,
        timestamp=event.created_at,
        data=payload,
    )


def feed(user: User, *, after: int, limit: int, session: Session) -> EventFeed:
    """Events after `after` in id order, filtered like the live groups: staff see every event,
    a reporter only the events of issues they created (deleted ones included)."""
    query = _visible_to(user, select(Event).where(Event.id > after))
    events = session.scalars(query.order_by(Event.id).limit(limit)).all()
    return EventFeed(
        events=[to_message(e) for e in events],
        next_after=events[-1].id if events else after,
    )


def last_event_id(user: User, *, session: Session) -> int:
    """The newest event id `user` may see (0 when none): where a new client starts its cursor."""
    return int(session.scalar(_visible_to(user, select(func.max(Event.id)))) or 0)


def _visible_to(user: User, query: Select[T]) -> Select[T]:
    """The feed's filter (one place, so the feed and `last_event_id` agree): staff see every
    event, a reporter the events of the issues they created. History copied in by an import
    (`events.imported`) is never a live update, so the feed leaves it out."""
    query = query.where(Event.imported.is_(False))
    if sees_all_issues(user):
        return query
    return query.where(Event.audience_owner_id == user.id)


def negotiate(user: User, *, settings: Settings, session: Session) -> NegotiateOut:
    """A client access URL for `user`: identity and groups come from the verified user only.

    The token lists the groups the service puts the connection into at connect time and grants
    no roles, so the client can neither join other groups nor send to any group.
    """
    if not settings.webpubsub_configured:
        raise ServiceUnavailable(
            "Live updates are not configured on this server (no Web PubSub service is set up)."
        )
    groups = realtime_groups.groups_for_user(user)
    client = get_client(settings)
    try:
        token = client.get_client_access_token(
            user_id=str(user.id), groups=groups, minutes_to_expire=settings.REALTIME_TOKEN_MINUTES
        )
    except Exception:  # managed identity mode asks the service for the token
        raise ServiceUnavailable(
            "Live updates are unavailable right now; try again shortly.", headers={"Retry-After": "10"}
        ) from None
    return NegotiateOut(
        url=str(token["url"]),
        expires_at=_expiry(str(token["token"])),
        groups=groups,
        last_event_id=last_event_id(user, session=session),
    )


def _expiry(token: str) -> datetime:
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    return datetime.fromtimestamp(int(claims["exp"]), UTC)
