"""User administration rules.

- Every decision goes through `trackly.auth.policy` (self or ADMIN; roles only by an ADMIN and
  never on one's own account).
- The last active ADMIN cannot be demoted, deactivated or deleted (409). The check locks every
  active ADMIN row (`SELECT ... FOR UPDATE`, in id order) before the target is changed, so two
  admins demoting each other at the same moment cannot both succeed.
- Deleting a user deactivates it: issues keep their creator, and its sessions are revoked.
  The users list shows active users unless asked for the deactivated ones too.
- Losing staff access (an ADMIN or MAINTAINER demoted to REPORTER, or deactivated) closes the
  user's live connections and sets `staff_revoked_at` in the same transaction: for a token's
  lifetime after it, messages to the Web PubSub `staff` group exclude the user
  (`realtime.outbox.recently_lost_staff`).
- Creating a user with a deactivated user's email is a 409 that names the account and says how
  to reactivate it (PUT /users/{id} {"is_active": true}): a new account would silently take
  over nothing, and reactivating on create would revive old sign-in links unasked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from trackly import clock
from trackly.auth import service as auth_service
from trackly.auth.policy import STAFF, Action, Facts, require
from trackly.errors import Conflict, NotFound
from trackly.models import Role, User
from trackly.realtime import publisher as realtime
from trackly.tokens import service as tokens_service
from trackly.users.schemas import UserCreateIn, UserListQuery, UserUpdateIn

LAST_ADMIN = "This is the last active admin; make someone else an admin first."


@dataclass(frozen=True)
class UserPage:
    items: list[User]
    total: int


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_users(query: UserListQuery, *, session: Session) -> UserPage:
    stmt = select(User)
    if query.q:
        pattern = f"%{_escape_like(query.q.strip().lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(User.full_name).like(pattern, escape="\\"),
                func.lower(User.email).like(pattern, escape="\\"),
            )
        )
    if query.role is not None:
        stmt = stmt.where(User.role == query.role)
    if not query.include_inactive:
        stmt = stmt.where(User.is_active.is_(True))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(
        stmt.order_by(User.created_at, User.id).offset(query.skip).limit(query.limit)
    ).all()
    return UserPage(items=list(items), total=int(total))


def _deactivated(existing: User) -> Conflict | None:
    if existing.is_active:
        return None  # the plain "already exists"
    return Conflict(
        f"A deactivated account with the email {existing.email} exists (user {existing.id}). "
        f'Reactivate it with PUT /api/users/{existing.id} {{"is_active": true}} instead of '
        "creating a new one.",
        user_id=str(existing.id),
    )


def create_user(body: UserCreateIn, *, session: Session) -> User:
    if body.kind == "service":
        assert body.name is not None  # the schema requires it
        return create_service_account(body.name, body.role, session=session)
    assert body.email is not None
    assert body.password is not None
    assert body.full_name is not None
    return auth_service.create_user(
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        role=body.role,
        session=session,
        explain=_deactivated,
    )


def create_service_account(name: str, role: Role, *, session: Session) -> User:
    """A user without email or password: it cannot sign in, only use its tokens. Its name is
    what history, events, comments and notifications show, as for a person."""
    user = User(id=uuid.uuid4(), kind="service", email=None, full_name=name, role=role, password_hash=None)
    session.add(user)
    session.flush()
    session.refresh(user)
    return user


def get_user(actor: User, user_id: uuid.UUID, *, session: Session) -> User:
    require(actor, Action.USER_READ, Facts(owner_id=user_id))
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("There is no user with this id.")
    return user


def _lock_active_admins(session: Session) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(User.id)
            .where(User.role == Role.ADMIN, User.is_active.is_(True))
            .order_by(User.id)
            .with_for_update()
        ).all()
    )


def _load_locked(user_id: uuid.UUID, session: Session) -> User:
    user = session.scalars(
        select(User).where(User.id == user_id).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if user is None:
        raise NotFound("There is no user with this id.")
    return user


def _guard_last_admin(
    target: User, *, stays_admin: bool, stays_active: bool, admins: list[uuid.UUID]
) -> None:
    if target.role is Role.ADMIN and target.is_active and not (stays_admin and stays_active):
        others = [a for a in admins if a != target.id]
        if not others:
            raise Conflict(LAST_ADMIN)


def _is_active_staff(role: Role, active: bool) -> bool:
    return active and role in STAFF


def _access_changed(target: User, *, lost_staff: bool, session: Session) -> None:
    """Once the change commits, close the user's connections (they renegotiate their groups);
    record a loss of staff access now, in this transaction, so no staff message misses it."""
    if lost_staff:
        target.staff_revoked_at = clock.now()
    realtime.disconnect_after_commit(target.id, session=session)


def update_user(actor: User, user_id: uuid.UUID, body: UserUpdateIn, *, session: Session) -> User:
    """Apply a partial update after every permission check has passed (so a 403 changes nothing)."""
    require(actor, Action.USER_UPDATE, Facts(owner_id=user_id))
    touches_access = body.role is not None or body.is_active is not None
    admins = _lock_active_admins(session) if touches_access else []
    target = _load_locked(user_id, session)

    new_role = body.role if body.role is not None else target.role
    new_active = body.is_active if body.is_active is not None else target.is_active
    if new_role != target.role:
        require(actor, Action.USER_CHANGE_ROLE, Facts(owner_id=target.id))
    if new_active != target.is_active:
        require(actor, Action.USER_DEACTIVATE, Facts(owner_id=target.id))
    if touches_access:
        _guard_last_admin(target, stays_admin=new_role is Role.ADMIN, stays_active=new_active, admins=admins)

    if body.full_name is not None:
        target.full_name = body.full_name
    deactivated = target.is_active and not new_active
    access_changed = deactivated or new_role != target.role
    lost_staff = _is_active_staff(target.role, target.is_active) and not _is_active_staff(
        new_role, new_active
    )
    target.role = new_role
    target.is_active = new_active
    if deactivated:
        auth_service.revoke_all_sessions(target.id, session=session)
        tokens_service.revoke_all(target.id, session=session)
    if access_changed:
        _access_changed(target, lost_staff=lost_staff, session=session)
    session.flush()
    session.refresh(target)
    return target


def deactivate_user(actor: User, user_id: uuid.UUID, *, session: Session) -> None:
    """DELETE /users/{id}: deactivate (issues keep their creator) and revoke its sessions."""
    require(actor, Action.USER_DEACTIVATE, Facts(owner_id=user_id))
    admins = _lock_active_admins(session)
    target = _load_locked(user_id, session)
    if not target.is_active:
        return
    _guard_last_admin(target, stays_admin=target.role is Role.ADMIN, stays_active=False, admins=admins)
    lost_staff = target.role in STAFF
    target.is_active = False
    auth_service.revoke_all_sessions(target.id, session=session)
    tokens_service.revoke_all(target.id, session=session)
    _access_changed(target, lost_staff=lost_staff, session=session)
    session.flush()
