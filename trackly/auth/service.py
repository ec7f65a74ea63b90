"""Password sign-in, token refresh, sign-out, password change and self-service sign-up.

Session rules (families, rotation, grace, reuse detection) live in `trackly.auth.sessions`;
brute-force counters in `trackly.auth.throttle`. Nothing here commits the request session.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trackly.auth import passwords, sessions, throttle
from trackly.auth.schemas import LoginOut, PasswordChangeIn, SignupIn
from trackly.config import Settings
from trackly.errors import Conflict, Forbidden, Unauthorized
from trackly.models import RefreshToken, Role, User

BAD_CREDENTIALS = "The email or password is incorrect."
WRONG_CURRENT_PASSWORD = "The current password is incorrect."  # noqa: S105 (a message)


def find_by_email(email: str, *, session: Session) -> User | None:
    """The account for `email` in any letter case. Both sides go through PostgreSQL's `lower()`,
    like the unique index `uq_users_email_lower` and the login throttle's account key (Python's
    `str.lower()` differs for some letters, e.g. 'İ')."""
    return session.scalars(
        select(User).where(func.lower(User.email) == func.lower(email.strip()))
    ).one_or_none()


def login(email: str, password: str, *, client_ip: str, session: Session, settings: Settings) -> LoginOut:
    """Check the credentials and start a session.

    Unknown email, wrong password, SSO-only account (no password) and inactive account all
    answer the same 401 after one argon2 verification, so neither the message nor the timing
    tells them apart. A throttled attempt answers 429 before any password is checked.
    """
    keys = throttle.keys_for(email, client_ip)
    throttle.reserve_attempt(keys, settings=settings)  # own transaction; may raise 429

    user = find_by_email(email, session=session)
    stored = user.password_hash if user is not None else None
    ok = passwords.verify_password(stored or passwords.dummy_hash(), password)
    if user is None or stored is None or not ok or not user.is_active:
        raise Unauthorized(BAD_CREDENTIALS)

    if passwords.needs_rehash(stored):
        user.password_hash = passwords.hash_password(password)
    throttle.release_success(keys, session=session)
    return sessions.start_session(user, session=session, settings=settings)


def refresh(token: str, *, session: Session, settings: Settings) -> sessions.RefreshResult:
    """See the refresh rule in `trackly.auth.sessions`."""
    return sessions.refresh(token, session=session, settings=settings)


def logout(token: str, *, session: Session) -> None:
    """Revoke the family of `token`. Unknown tokens are ignored (no oracle, idempotent)."""
    row = session.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == sessions.hash_refresh_token(token))
    ).one_or_none()
    if row is not None:
        sessions.revoke_family(row.family_id, session=session)


def revoke_all_sessions(user_id: uuid.UUID, *, session: Session, keep_family: uuid.UUID | None = None) -> int:
    """Sign a user out everywhere: revoke every refresh token family (except `keep_family`).

    Used by logout-all, password change and deactivation. Access tokens of a revoked session
    are refused from their next request on (`trackly.auth.current.identify`).
    """
    return sessions.revoke_user_families(user_id, session=session, keep_family=keep_family)


def change_password(
    user: User,
    body: PasswordChangeIn,
    *,
    current_family: uuid.UUID | None,
    client_ip: str,
    session: Session,
    settings: Settings,
) -> None:
    """Replace the password after checking the current one; end the user's other sessions.

    Guessing the current password counts against the same account throttle as sign-in.
    """
    keys = throttle.keys_for(user.email or "", client_ip)  # a service account has no session here
    throttle.reserve_attempt(keys, settings=settings)
    if user.password_hash is None or not passwords.verify_password(user.password_hash, body.current_password):
        raise Forbidden(WRONG_CURRENT_PASSWORD)
    throttle.release_success(keys, session=session)
    user.password_hash = passwords.hash_password(body.new_password)
    revoke_all_sessions(user.id, session=session, keep_family=current_family)
    session.flush()


def signup(body: SignupIn, *, client_ip: str, session: Session, settings: Settings) -> LoginOut:
    """Create a REPORTER account and sign it in. Off unless SIGNUP_ENABLED=true. Throttled per
    client address (429), counted before the email is looked up."""
    if not settings.SIGNUP_ENABLED:
        raise Forbidden("Self-service sign-up is disabled; ask an administrator for an account.")
    throttle.reserve_attempt(throttle.signup_keys_for(client_ip), settings=settings)
    user = create_user(
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        role=Role.REPORTER,
        session=session,
    )
    return sessions.start_session(user, session=session, settings=settings)


def create_user(
    *,
    email: str,
    password: str | None,
    full_name: str,
    role: Role,
    session: Session,
    explain: Callable[[User], Conflict | None] | None = None,
) -> User:
    """Insert a user; a duplicate email (any letter case) is a 409, also under a race. `explain`
    may word the 409 for the existing account (an admin may be told more than a sign-up)."""
    duplicate = Conflict(f"An account with the email {email} already exists.")
    existing = find_by_email(email, session=session)
    if existing is not None:
        raise (explain(existing) if explain else None) or duplicate
    user = User(
        id=uuid.uuid4(),
        email=email.strip(),
        full_name=full_name,
        role=role,
        password_hash=passwords.hash_password(password) if password is not None else None,
        is_active=True,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise duplicate from None
    session.refresh(user)
    return user
