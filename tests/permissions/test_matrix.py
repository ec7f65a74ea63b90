"""Every HTTP function x every actor; see tests/permissions/framework.py for how to add rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.permissions.framework import (
    Ctx,
    Prepared,
    Row,
    all_rows,
    fill_route,
    iter_cases,
    registered_http_functions,
)
from tests.support.api import Api

ROWS = all_rows()


def test_every_function_has_a_row() -> None:
    registered = registered_http_functions()
    covered = {row.function for row in ROWS}
    missing = sorted(set(registered) - covered)
    assert not missing, f"HTTP functions without a permission-matrix row: {missing}"
    unknown = sorted(covered - set(registered))
    assert not unknown, f"rows for functions that are not registered: {unknown}"


def test_row_ids_are_unique() -> None:
    ids = [row.id for row in ROWS]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize(
    ("row", "actor"), list(iter_cases(ROWS)), ids=lambda v: v.id if isinstance(v, Row) else v
)
def test_permission(row: Row, actor: str, request: pytest.FixtureRequest) -> None:
    api: Api = request.getfixturevalue("api")
    users: Any = request.getfixturevalue("users")
    settings_env: Callable[..., None] = request.getfixturevalue("settings_env")
    admin, maintainer, reporter, other_reporter = (
        request.getfixturevalue(name) for name in ("admin", "maintainer", "reporter", "other_reporter")
    )
    function = registered_http_functions()[row.function]
    if row.settings:
        settings_env(**row.settings)
    ctx = Ctx(
        users=users,
        engine=request.getfixturevalue("engine"),
        api=api,
        admin=admin,
        maintainer=maintainer,
        reporter=reporter,
        other_reporter=other_reporter,
        actor=actor,
        fixtures={name: request.getfixturevalue(name) for name in row.fixtures},
    )
    prepared = (row.setup(ctx) if row.setup else None) or Prepared()
    method = row.method or function.methods[0]
    path = fill_route(function.route, {**row.path, **prepared.path})
    user = ctx.user_for(actor)
    client = api if user is None else ctx.api_as(user)
    body = prepared.json if prepared.json is not None else row.json
    response = client.request(
        method,
        path,
        json=body,
        files=row.files,
        params=prepared.query if prepared.query is not None else row.query,
        headers=prepared.headers if prepared.headers is not None else row.headers,
    )
    wanted = row.expect.for_actor(actor)
    assert response.status_code in wanted, (
        f"{method} /api/{path} as {actor}: expected {wanted}, got {response.status_code}: "
        f"{response.text[:300]}"
    )
    if response.status_code == 401:
        assert response.headers.get("WWW-Authenticate", "").lower().startswith("bearer"), response.headers
    if response.status_code >= 400:
        assert response.headers["Content-Type"].startswith("application/problem+json"), response.headers
        assert response.json()["detail"]
