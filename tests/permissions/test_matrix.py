"""Every HTTP function x every actor; see tests/permissions/framework.py for how to add rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.permissions.framework import (
    TOKEN,
    Ctx,
    Prepared,
    Row,
    all_rows,
    fill_route,
    iter_cases,
    registered_http_functions,
    scopes_of,
    spec_of,
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
    by_token = actor.startswith(TOKEN)
    actor = actor.removeprefix(TOKEN)
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
        credential="token" if by_token else "session",
    )
    prepared = (row.setup(ctx) if row.setup else None) or Prepared()
    method = row.method or function.methods[0]
    path = fill_route(function.route, {**row.path, **prepared.path})
    user = ctx.user_for(actor)
    body = prepared.json if prepared.json is not None else row.json

    def send(client: Api) -> Any:
        return client.request(
            method,
            path,
            json=body,
            files=row.files,
            params=prepared.query if prepared.query is not None else row.query,
            headers=prepared.headers if prepared.headers is not None else row.headers,
        )

    wanted = row.expect.for_actor(actor)
    if by_token:
        wanted = _token_cases(row, user, wanted, users, api, send, f"{method} /api/{path} as token:{actor}")
        if wanted is None:
            return
        client = api.as_(users.pat(user, scopes_of(row)))
    else:
        client = api if user is None else ctx.api_as(user)
    response = send(client)
    assert response.status_code in wanted, (
        f"{method} /api/{path} as {actor}: expected {wanted}, got {response.status_code}: "
        f"{response.text[:300]}"
    )
    if response.status_code == 401:
        assert response.headers.get("WWW-Authenticate", "").lower().startswith("bearer"), response.headers
    if response.status_code >= 400:
        assert response.headers["Content-Type"].startswith("application/problem+json"), response.headers
        assert response.json()["detail"]


def _token_cases(  # noqa: PLR0917 (one call site)
    row: Row, user: Any, wanted: tuple[int, ...], users: Any, api: Api, send: Callable[[Api], Any], what: str
) -> tuple[int, ...] | None:
    """The token column (framework docstring): refused probes first, then what the main request
    must answer with a token of exactly the row's scopes (None: no main request)."""
    from trackly.auth.policy import Scope

    if not spec_of(row).tokens:
        refused = send(api.as_(users.pat(user)))
        assert refused.status_code == 403, f"{what} (every scope): {refused.status_code} {refused.text[:300]}"
        return None
    needed = scopes_of(row)
    succeeds = all(200 <= code < 400 for code in wanted)
    for position, scope in enumerate(needed):
        others = [s.value for s in Scope if s.value != scope]
        probe = send(api.as_(users.pat(user, others)))
        # The endpoint's own scope is checked before anything else; a scope the service checks
        # later is reached only where the session would get that far.
        expected = (403,) if position == 0 or succeeds or 403 in wanted else wanted
        assert probe.status_code in expected, (
            f"{what} without {scope}: expected {expected}, got {probe.status_code}: {probe.text[:300]}"
        )
    return wanted
