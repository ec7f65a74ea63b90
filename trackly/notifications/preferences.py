"""Notification preferences: which notifications a user wants by email, and when.

A user's own row wins; without one the organisation's default for their role applies (set by an
ADMIN), else the built-in default (`reasons.ROLE_REASONS`, instant, the settings' time zone).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from trackly import clock
from trackly.config import Settings
from trackly.models import (
    Notification,
    NotificationDefault,
    NotificationDelivery,
    NotificationSettings,
    Role,
    User,
)
from trackly.notifications.preferences_schemas import DefaultOut, PreferencesIn, PreferencesOut, QuietHours
from trackly.notifications.reasons import ROLE_REASONS

EMAIL_CHANNEL = "email"


@dataclass(frozen=True)
class Preferences:
    """The values that decide whether and when a notification is emailed."""

    email: str
    reasons: tuple[str, ...]
    time_zone: str
    digest_hour: int
    quiet_start: time | None
    quiet_end: time | None
    source: str


def built_in(role: Role, settings: Settings) -> Preferences:
    return Preferences(
        email="instant",
        reasons=tuple(r.value for r in ROLE_REASONS[role]),
        time_zone=settings.EMAIL_DEFAULT_TIME_ZONE,
        digest_hour=settings.EMAIL_DEFAULT_DIGEST_HOUR,
        quiet_start=None,
        quiet_end=None,
        source="built_in",
    )


def _from_row(row: NotificationSettings | NotificationDefault, source: str) -> Preferences:
    return Preferences(
        email=row.email,
        reasons=tuple(row.reasons),
        time_zone=row.time_zone,
        digest_hour=row.digest_hour,
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        source=source,
    )


def effective(
    role: Role,
    own: NotificationSettings | None,
    default: NotificationDefault | None,
    settings: Settings,
) -> Preferences:
    if own is not None:
        return _from_row(own, "user")
    if default is not None:
        return _from_row(default, "organisation")
    return built_in(role, settings)


def _quiet(p: Preferences) -> QuietHours | None:
    if p.quiet_start is None or p.quiet_end is None:
        return None
    return QuietHours.of(p.quiet_start, p.quiet_end)


def _values(data: PreferencesIn) -> dict[str, object]:
    return {
        "email": data.email,
        "reasons": [r.value for r in data.reasons],
        "time_zone": data.time_zone,
        "digest_hour": data.digest_hour,
        "quiet_start": data.quiet_hours.window[0] if data.quiet_hours else None,
        "quiet_end": data.quiet_hours.window[1] if data.quiet_hours else None,
        "updated_at": clock.now(),
    }


def get_mine(user: User, *, session: Session, settings: Settings) -> PreferencesOut:
    own = session.get(NotificationSettings, user.id)
    default = session.get(NotificationDefault, user.role.value)
    p = effective(user.role, own, default, settings)
    return PreferencesOut(
        email=p.email,
        reasons=list(p.reasons),
        time_zone=p.time_zone,
        digest_hour=p.digest_hour,
        quiet_hours=_quiet(p),
        source=p.source,
        email_refused_at=own.email_refused_at if own else None,
    )


def put_mine(data: PreferencesIn, *, user: User, session: Session, settings: Settings) -> PreferencesOut:
    """Store the caller's own preferences (choosing email again clears a past refusal) and let
    every email still waiting for them (a digest, quiet hours) be decided again by the next run."""
    values = _values(data)
    refusal = {"email_refused_at": None, "email_refused_detail": None} if data.email != "off" else {}
    session.execute(
        insert(NotificationSettings)
        .values(user_id=user.id, **values, **refusal)
        .on_conflict_do_update(index_elements=[NotificationSettings.user_id], set_={**values, **refusal})
    )
    _reconsider_waiting([user.id], session=session)
    session.expire_all()
    return get_mine(user, session=session, settings=settings)


def switch_off(user_id: uuid.UUID, *, detail: str | None, session: Session, settings: Settings) -> None:
    """Email off for this user (unsubscribe, or an address refused for good), keeping the rest of
    their effective preferences. `detail` records a refusal (shown in the app)."""
    user = session.get(User, user_id)
    if user is None:
        return
    own = session.get(NotificationSettings, user_id)
    p = effective(user.role, own, session.get(NotificationDefault, user.role.value), settings)
    values = {
        "email": "off",
        "reasons": list(p.reasons),
        "time_zone": p.time_zone,
        "digest_hour": p.digest_hour,
        "quiet_start": p.quiet_start,
        "quiet_end": p.quiet_end,
        "updated_at": clock.now(),
    }
    if detail is not None:
        values |= {"email_refused_at": clock.now(), "email_refused_detail": detail[:300]}
    session.execute(
        insert(NotificationSettings)
        .values(user_id=user_id, **values)
        .on_conflict_do_update(index_elements=[NotificationSettings.user_id], set_=values)
    )


def refusal_notice(user: User, *, session: Session) -> str | None:
    """The in-app notice after the mail server refused the user's address for good."""
    row = session.scalar(
        select(NotificationSettings.email_refused_detail).where(
            NotificationSettings.user_id == user.id, NotificationSettings.email_refused_at.is_not(None)
        )
    )
    if row is None:
        return None
    return f"Email notifications were switched off because the mail server refused your address: {row}"


def _default_out(role: Role, row: NotificationDefault | None, settings: Settings) -> DefaultOut:
    p = effective(role, None, row, settings)
    return DefaultOut(
        role=role,
        email=p.email,
        reasons=list(p.reasons),
        time_zone=p.time_zone,
        digest_hour=p.digest_hour,
        quiet_hours=_quiet(p),
        source=p.source,
    )


def list_defaults(*, session: Session, settings: Settings) -> list[DefaultOut]:
    rows = {r.role: r for r in session.scalars(select(NotificationDefault))}
    return [_default_out(role, rows.get(role.value), settings) for role in Role]


def put_default(role: Role, data: PreferencesIn, *, session: Session, settings: Settings) -> DefaultOut:
    """The organisation's default for one role: applies to every user of that role without
    their own preferences."""
    values = _values(data)
    session.execute(
        insert(NotificationDefault)
        .values(role=role.value, **values)
        .on_conflict_do_update(index_elements=[NotificationDefault.role], set_=values)
    )
    affected = select(User.id).where(User.role == role).except_(select(NotificationSettings.user_id))
    _reconsider_waiting(affected, session=session)
    session.expire_all()
    return _default_out(role, session.get(NotificationDefault, role.value), settings)


def _reconsider_waiting(user_ids: Any, *, session: Session) -> None:
    """Waiting emails of these users (ids, or a select of ids) are decided again now."""
    session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.channel == EMAIL_CHANNEL,
            NotificationDelivery.status == "waiting",
            NotificationDelivery.notification_id.in_(
                select(Notification.id).where(Notification.user_id.in_(user_ids))
            ),
        )
        .values(due_at=clock.now()),
        execution_options={"synchronize_session": False},
    )
