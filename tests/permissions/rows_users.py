"""Permission rows for user administration (/users). The target of /users/{id} is the
`reporter_owner` actor's own account, so "owner" means "self" here."""

from __future__ import annotations

import uuid

from tests.permissions.framework import Ctx, Prepared, Row, expect

ADMIN_ONLY = expect(anonymous=401, reporter=403, maintainer=403, admin=200)
SELF_OR_ADMIN = expect(anonymous=401, reporter_owner=200, reporter_other=403, maintainer=403, admin=200)
ROLE_CHANGE = expect(anonymous=401, reporter=403, maintainer=403, admin=200)


def _the_reporter(ctx: Ctx) -> Prepared:
    return Prepared(path={"user_id": str(ctx.reporter.id)})


def _new_user(ctx: Ctx) -> Prepared:
    email = f"created-{uuid.uuid4().hex[:8]}@example.com"
    return Prepared(
        json={"email": email, "password": "password123", "full_name": "Created", "role": "REPORTER"}
    )


ROWS = [
    Row("list_users", ADMIN_ONLY),
    Row("list_users", ADMIN_ONLY, query={"q": "a", "role": "REPORTER", "limit": "5"}, variant="filtered"),
    Row("create_user", expect(anonymous=401, reporter=403, maintainer=403, admin=201), setup=_new_user),
    Row("get_user", SELF_OR_ADMIN, setup=_the_reporter),
    Row(
        "get_user",
        expect(anonymous=401, reporter=403, maintainer=403, admin=404),
        variant="missing",
    ),
    Row("update_user", SELF_OR_ADMIN, setup=_the_reporter, json={"full_name": "Renamed"}, variant="name"),
    Row(
        "update_user",
        ROLE_CHANGE,
        setup=_the_reporter,
        json={"role": "MAINTAINER"},
        variant="role",
        scopes=("users:admin",),
    ),
    Row("patch_user", SELF_OR_ADMIN, setup=_the_reporter, json={"full_name": "Renamed"}, variant="name"),
    Row(
        "patch_user",
        ROLE_CHANGE,
        setup=_the_reporter,
        json={"role": "ADMIN"},
        variant="role",
        scopes=("users:admin",),
    ),
    Row(
        "patch_user",
        ROLE_CHANGE,
        setup=_the_reporter,
        json={"is_active": False},
        variant="deactivate",
        scopes=("users:admin",),
    ),
    Row(
        "create_user",
        expect(anonymous=401, reporter=403, maintainer=403, admin=201),
        json={"kind": "service", "name": "CI bot", "role": "REPORTER"},
        variant="service-account",
    ),
    Row(
        "delete_user",
        expect(anonymous=401, reporter=403, maintainer=403, admin=200),
        setup=_the_reporter,
    ),
]
