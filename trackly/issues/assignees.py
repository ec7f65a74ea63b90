"""Who may be assigned an issue: one active MAINTAINER or ADMIN (or nobody)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from trackly.auth.policy import STAFF
from trackly.errors import Unprocessable
from trackly.models import User


def _refuse(detail: str) -> Unprocessable:
    return Unprocessable(detail, errors=[{"loc": "body.assignee_id", "msg": detail, "type": "assignee"}])


def assignable(user_id: uuid.UUID | None, *, session: Session) -> User | None:
    """The user to assign (None: unassign); 422 when they do not exist, are deactivated, or are
    a REPORTER (reporters neither assign nor get assigned)."""
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None:
        raise _refuse("There is no user with this assignee_id.")
    if not user.is_active:
        raise _refuse(f"{user.full_name} is deactivated and cannot be assigned.")
    if user.role not in STAFF:
        raise _refuse("Only a maintainer or an admin can be assigned an issue.")
    return user
