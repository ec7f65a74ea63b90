"""Permission rows for single sign-on (trackly/api/sso.py).

The sign-in endpoints are public: every caller, with or without a bearer token, gets the same
answer (never 401 for a missing token, never a different answer for a signed-in user).
Managing SSO links is for ADMINs only, including on one's own account.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.permissions.framework import Ctx, Expect, Prepared, Row, expect

CONFIGURED = {
    "MICROSOFT_CLIENT_ID": "matrix-client",
    "MICROSOFT_CLIENT_SECRET": "matrix-secret",
    "GOOGLE_CLIENT_ID": "matrix.apps.googleusercontent.com",
}


def _same_for_all(status: int) -> Expect:
    return expect(anonymous=status, reporter=status, maintainer=status, admin=status)


def _reporter_target(ctx: Ctx) -> Prepared:
    return Prepared(path={"user_id": str(ctx.reporter.id)})


def _reporter_link(ctx: Ctx) -> Prepared:
    link_id = uuid.uuid4()
    with ctx.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sso_links (id, user_id, provider, subject, email) "
                "VALUES (:id, :user_id, 'google', :subject, :email)"
            ),
            {
                "id": link_id,
                "user_id": ctx.reporter.id,
                "subject": f"g-{link_id}",
                "email": ctx.reporter.email,
            },
        )
    return Prepared(path={"user_id": str(ctx.reporter.id), "link_id": str(link_id)})


ADMIN_ONLY_READ = expect(anonymous=401, reporter=403, maintainer=403, admin=200)
ADMIN_ONLY_DELETE = expect(anonymous=401, reporter=403, maintainer=403, admin=204)

ROWS = [
    # Not configured: 503 for everyone (a public endpoint: no 401 first).
    Row("microsoft_login", _same_for_all(503)),
    Row("microsoft_login", _same_for_all(422), query={"return_to": "//evil.com"}, variant="open-redirect"),
    Row(
        "microsoft_callback",
        _same_for_all(400),
        query={"state": "unknown-state", "code": "x"},
        settings=CONFIGURED,
    ),
    Row("exchange_code", _same_for_all(401), json={"code": "not-a-real-code"}),
    Row("google_sign_in", _same_for_all(401), json={"credential": "not-a-jwt"}, settings=CONFIGURED),
    Row("list_sso_links", ADMIN_ONLY_READ, setup=_reporter_target),
    Row("delete_sso_link", ADMIN_ONLY_DELETE, setup=_reporter_link),
]
