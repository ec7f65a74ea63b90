"""Permission rows for personal access tokens (/auth/tokens, /users/{id}/tokens). The target of
/users/{id}/tokens is the `reporter_owner` actor's account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.permissions.framework import Ctx, Prepared, Row, expect

ADMIN_ONLY = expect(anonymous=401, reporter=403, maintainer=403, admin=200)


def _body() -> dict[str, object]:
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    return {"name": "matrix", "scopes": ["issues:read"], "expires_at": expires}


def _reporters_token(ctx: Ctx) -> Prepared:
    from sqlalchemy import text

    from trackly.tokens.format import hash_token

    token = ctx.users.pat(ctx.reporter, ["issues:read"], name="target")
    with ctx.engine.connect() as conn:
        token_id = conn.execute(
            text("SELECT id FROM api_tokens WHERE token_hash = :h"), {"h": hash_token(token)}
        ).scalar_one()
    return Prepared(path={"user_id": str(ctx.reporter.id), "token_id": str(token_id)})


def _the_reporter(ctx: Ctx) -> Prepared:
    return Prepared(path={"user_id": str(ctx.reporter.id)})


def _a_service_account(ctx: Ctx) -> Prepared:
    bot = ctx.users.service_account("REPORTER")
    return Prepared(path={"user_id": str(bot.id)}, json=_body())


ROWS = [
    Row(
        "create_token",
        expect(anonymous=401, reporter=201, maintainer=201, admin=201),
        setup=lambda ctx: Prepared(json=_body()),
    ),
    Row("list_tokens", expect(anonymous=401, reporter=200, maintainer=200, admin=200)),
    Row(
        "revoke_token",
        expect(anonymous=401, reporter_owner=200, reporter_other=404, maintainer=404, admin=404),
        setup=_reporters_token,
    ),
    Row("list_user_tokens", ADMIN_ONLY, setup=_the_reporter),
    Row(
        "list_user_tokens",
        expect(anonymous=401, reporter=403, maintainer=403, admin=404),
        variant="missing",
    ),
    Row(
        "create_user_token",
        expect(anonymous=401, reporter=403, maintainer=403, admin=201),
        setup=_a_service_account,
    ),
    Row(
        "create_user_token",
        expect(anonymous=401, reporter=403, maintainer=403, admin=422),
        setup=lambda ctx: Prepared(path={"user_id": str(ctx.reporter.id)}, json=_body()),
        variant="person",
    ),
    Row("revoke_user_token", ADMIN_ONLY, setup=_reporters_token),
]
