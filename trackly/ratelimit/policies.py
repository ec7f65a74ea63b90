"""The budgets an endpoint can draw from (light: loaded with the endpoint declarations)."""

from __future__ import annotations

import enum


class Policy(enum.StrEnum):
    """Which budget an endpoint draws from (`@endpoint(rate_limit=...)`); quotas are settings."""

    USER = "user"  # endpoints with auth: per user, sessions and tokens together
    ANONYMOUS = "anonymous"  # per client address (also every failed authentication)
    SIGN_IN = "sign-in"  # password, refresh, sign-up and SSO calls, per client address
    PUBLIC = "public"  # health, documentation, the browser module, signed file links
