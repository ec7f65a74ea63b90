"""Users and everything that belongs to signing in: refresh tokens, throttling, SSO links."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from trackly.models.base import Base, Role, created_at_column, uuid_pk

USER_KINDS = ("human", "service")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # A service account has no email and no password: it authenticates only with its tokens.
        CheckConstraint("kind IN ('human', 'service')", name="kind"),
        CheckConstraint("kind = 'service' OR email IS NOT NULL", name="human_has_email"),
        CheckConstraint(
            "kind = 'human' OR (email IS NULL AND password_hash IS NULL)", name="service_no_sign_in"
        ),
        # Emails are unique regardless of case.
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
        Index("ix_users_role", "role"),
        # The realtime publisher's question "who lost staff access within a token's lifetime?".
        Index(
            "ix_users_staff_revoked_at",
            "staff_revoked_at",
            postgresql_where=text("staff_revoked_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # Null only for service accounts (see the check constraints).
    email: Mapped[str | None] = mapped_column(String(320))
    full_name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", native_enum=False, length=16), nullable=False
    )
    # Null for users who only sign in through an identity provider.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # "human" (signs in with a password or SSO) or "service" (personal access tokens only).
    kind: Mapped[str] = mapped_column(String(16), nullable=False, server_default=text("'human'"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
    # When the user last stopped being active staff (demoted to REPORTER, or deactivated while
    # ADMIN/MAINTAINER). A negotiate token from before then may still put them into `staff`.
    staff_revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    # The scopes of the personal access token this request was authenticated with (None: a
    # sign-in session, which has every scope). Set by `trackly.auth.current` on the request's
    # own User instance; not a column.
    @property
    def token_scopes(self) -> frozenset[str] | None:
        value: frozenset[str] | None = self.__dict__.get("_trackly_token_scopes")
        return value

    @token_scopes.setter
    def token_scopes(self, scopes: frozenset[str] | None) -> None:
        self.__dict__["_trackly_token_scopes"] = scopes


class RefreshToken(Base):
    """One issued refresh token. Only its SHA-256 hash is stored.

    Tokens of one sign-in share a `family_id`; rotation marks the old token `rotated_at` and
    links it to its successor. Presenting a rotated token again (outside the grace rule)
    revokes the whole family.
    """

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_user_id_revoked_at", "user_id", "revoked_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(nullable=False, index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    replaced_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("refresh_tokens.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginThrottle(Base):
    """Failed sign-in counters per key ("account:<email>" or "ip:<address>"), shared by instances."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    window_started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lockouts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )


class SsoLink(Base):
    """A user's identity at an external provider, keyed by the provider's stable subject id."""

    __tablename__ = "sso_links"
    __table_args__ = (UniqueConstraint("provider", "subject", name="uq_sso_links_provider_subject"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    # Microsoft: "<tid>:<oid>"; Google: the `sub` claim.
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = created_at_column()
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuthFlow(Base):
    """Server-side state of an in-flight authorization-code flow (state, nonce, PKCE verifier)."""

    __tablename__ = "auth_flows"

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    flow: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    return_to: Mapped[str] = mapped_column(String(2048), nullable=False, server_default="/")
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)


class LoginCode(Base):
    """A one-time code handed to the front end after SSO, exchanged once for tokens."""

    __tablename__ = "login_codes"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A personal access token. Only the SHA-256 of the token is stored (see trackly.tokens.format)."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    # The first characters of the token (`trk_` and a few random ones): enough to recognise it
    # in a list, far too few to guess the rest.
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(32)), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateLimitCounter(Base):
    """Requests per subject ("user:<id>", "ip:<address>", "sign-in:<address>") per fixed window,
    shared by every instance; incremented with one upsert per request.

    UNLOGGED: a write to it produces no WAL, so the commit of a request that writes nothing
    else does not wait for a WAL flush (an ordinary table would add one fsync to every GET). The
    price is that PostgreSQL empties the table after a crash and a standby does not have it:
    budgets restart, which is harmless for counters of an hour."""

    __tablename__ = "rate_limit_counters"
    __table_args__ = (
        Index("ix_rate_limit_counters_window_start", "window_start"),
        {"prefixes": ["UNLOGGED"]},
    )

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)
