"""Mapping a verified external identity to a Trackly user.

1. A link (provider, subject) exists -> that user (even if their email changed at the provider).
2. Otherwise, on first sign-in, a user whose email matches the verified email (case-insensitive)
   -> a link is created. Refused when that user is already linked to a *different* identity at
   the same provider (someone else claiming the same email address).
3. Otherwise, when the email's domain is listed in SSO_AUTO_PROVISION_DOMAINS -> a new REPORTER
   without a password, plus the link.
4. Otherwise -> 403: an administrator has to create the account first.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trackly import clock
from trackly.auth.service import find_by_email
from trackly.config import Settings
from trackly.errors import Forbidden, NotFound
from trackly.models import Role, SsoLink, User

log = logging.getLogger(__name__)

MICROSOFT = "microsoft"
GOOGLE = "google"

PROVIDER_NAMES = {MICROSOFT: "Microsoft", GOOGLE: "Google"}


@dataclass(frozen=True)
class ExternalIdentity:
    """Who the identity provider vouched for, taken from a verified ID token."""

    provider: str
    subject: str  # stable id at the provider: Microsoft "<tid>:<oid>", Google `sub`
    email: str | None  # only when the provider asserts it is the user's (verified) address
    name: str | None = None


class SsoRefused(Forbidden):
    """The identity is genuine, but it may not sign in to Trackly (403)."""

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason  # short code for the browser redirect (#error=<reason>)


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower()


def may_auto_provision(email: str, settings: Settings) -> bool:
    domains = {d.strip().lower().lstrip("@") for d in settings.SSO_AUTO_PROVISION_DOMAINS if d.strip()}
    return "@" in email and _domain(email) in domains


def _check_active(user: User) -> User:
    if user.is_service:
        raise SsoRefused(
            "This is a service account: it cannot sign in, only use its tokens.",
            reason="service_account",
        )
    if not user.is_active:
        raise SsoRefused(
            "This Trackly account has been deactivated. Ask an administrator to reactivate it.",
            reason="account_disabled",
        )
    return user


def resolve_user(identity: ExternalIdentity, *, session: Session, settings: Settings) -> User:
    """The Trackly user for a verified identity (see the module docstring), creating the link."""
    try:
        with session.begin_nested():
            return _resolve(identity, session=session, settings=settings)
    except IntegrityError:
        # A concurrent first sign-in of the same person created the link or the user first:
        # the second attempt finds what the first one wrote.
        log.info("concurrent first SSO sign-in for %s; retrying lookup", identity.provider)
        return _resolve(identity, session=session, settings=settings)


def _resolve(identity: ExternalIdentity, *, session: Session, settings: Settings) -> User:
    now = clock.now()
    link = session.scalars(
        select(SsoLink).where(SsoLink.provider == identity.provider, SsoLink.subject == identity.subject)
    ).one_or_none()
    if link is not None:
        user = session.get(User, link.user_id)
        assert user is not None  # the foreign key cascades on delete
        link.last_login_at = now
        if identity.email:
            link.email = identity.email
        session.flush()
        return _check_active(user)

    provider = PROVIDER_NAMES.get(identity.provider, identity.provider)
    if not identity.email:
        raise SsoRefused(
            f"Your {provider} account did not share a verified email address, so it cannot be "
            "matched to a Trackly account. Ask an administrator for help.",
            reason="email_missing",
        )
    email = identity.email.strip()
    user = find_by_email(email, session=session)
    if user is not None:
        other = session.scalars(
            select(SsoLink.id).where(SsoLink.user_id == user.id, SsoLink.provider == identity.provider)
        ).first()
        if other is not None:
            raise SsoRefused(
                f"This Trackly account is already linked to a different {provider} account. "
                "Sign in with that one, or ask an administrator to remove the old link.",
                reason="linked_elsewhere",
            )
        _check_active(user)
    elif may_auto_provision(email, settings):
        user = User(
            email=email,
            full_name=(identity.name or "").strip()[:200] or email.split("@", 1)[0][:200],
            role=Role.REPORTER,
            password_hash=None,
            is_active=True,
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        session.flush()
        log.info("auto-provisioned REPORTER %s from %s sign-in", user.id, identity.provider)
    else:
        raise SsoRefused(
            f"There is no Trackly account for this {provider} sign-in. "
            "Ask an administrator to create your account first.",
            reason="not_provisioned",
        )
    session.add(
        SsoLink(
            user_id=user.id,
            provider=identity.provider,
            subject=identity.subject,
            email=email,
            created_at=now,
            last_login_at=now,
        )
    )
    session.flush()
    return user


def list_links(user_id: uuid.UUID, *, session: Session) -> list[SsoLink]:
    if session.get(User, user_id) is None:
        raise NotFound("There is no user with this id.")
    return list(
        session.scalars(
            select(SsoLink).where(SsoLink.user_id == user_id).order_by(SsoLink.created_at, SsoLink.id)
        )
    )


def remove_link(user_id: uuid.UUID, link_id: uuid.UUID, *, session: Session) -> None:
    link = session.get(SsoLink, link_id)
    if link is None or link.user_id != user_id:
        raise NotFound("This user has no single sign-on link with this id.")
    session.delete(link)
    session.flush()
