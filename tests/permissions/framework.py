"""The permission matrix: every HTTP function in `function_app.app` x five kinds of caller.

How it works
------------
`tests/permissions/test_matrix.py` enumerates the HTTP functions registered in the FunctionApp
itself (`trackly.http.router.discover(function_app.app)`), so a new endpoint cannot be forgotten:
`test_every_function_has_a_row` fails and names every function that has no row.

For every row and every actor it sends one real HTTP request to the local host and checks the
status code. Each (row, actor) pair is its own test with a freshly emptied database, so a
destructive request (DELETE) never influences another actor's case.

Actors (keys of `Expect`):

- `anonymous`      - no Authorization header
- `reporter_owner` - the `reporter` fixture: the REPORTER who owns the target (the issue creator,
                     or the user being administered on /users/{id})
- `reporter_other` - the `other_reporter` fixture: a REPORTER who does not own the target
- `maintainer`     - the `maintainer` fixture
- `admin`          - the `admin` fixture

Adding rows for your domain
---------------------------
Create `tests/permissions/rows_<domain>.py` with a module-level `ROWS: list[Row]`; it is found
automatically (every `rows_*.py` module in this package is imported). Example:

    from tests.permissions.framework import Ctx, Prepared, Row, expect

    def _issue_of_reporter(ctx: Ctx) -> Prepared:
        # Create what the request needs, owned by ctx.reporter (the "reporter_owner" actor).
        resp = ctx.api_as(ctx.reporter).post("issues", json={"title": "T", "description": "D"})
        assert resp.status_code == 201, resp.text
        return Prepared(path={"issue_id": resp.json()["id"]})

    ROWS = [
        Row("list_issues", expect(anonymous=401, reporter=200, maintainer=200, admin=200)),
        Row(
            "update_issue",
            expect(anonymous=401, reporter_owner=200, reporter_other=404, maintainer=200, admin=200),
            setup=_issue_of_reporter,
            json={"title": "New title"},
        ),
    ]

`Row` fields:

- `function`   - the function name as registered (the handler name / `@endpoint(name=...)`).
- `expect`     - build it with `expect(...)`: `reporter=` sets both reporter actors;
                 `reporter_owner=`/`reporter_other=` set one. Every actor must get a value.
                 A value is a status code or a tuple of acceptable codes.
- `setup`      - optional `Callable[[Ctx], Prepared | None]`, run before the request (after the
                 actors exist). Returns path values, and optionally json/query/headers that
                 override the row's static ones. Path placeholders the setup does not fill are
                 filled with a random UUID for `{x:guid}` (a missing target) and fail otherwise.
- `json`, `query`, `headers`, `path` - static request parts (used when `Prepared` does not set
                 them; `Prepared.path` values are merged over `path`).
- `settings`   - environment settings for this row, e.g. `{"SIGNUP_ENABLED": "true"}` (applied
                 with the `settings_env` fixture and restored afterwards).
- `fixtures`   - names of extra pytest fixtures the setup needs (`ctx.fixtures[name]`). They
                 must be visible from this package: define them in `tests/conftest.py` or in a
                 module `tests/permissions/fixtures_<domain>.py` (the package conftest imports
                 every fixture defined in `fixtures_*.py`).
- `variant`    - a short label when a function has more than one row (e.g. "self", "other").
- `method`     - only for functions registered with several methods.

`Ctx` gives the setup: `users` (factory: `ctx.users("ADMIN")`), `engine` (direct SQLAlchemy
engine), `admin`, `maintainer`, `reporter`, `other_reporter` (the actors' User rows),
`token(user)`, `api` (anonymous client), `api_as(user)`, `fixtures`, `actor` (the actor this
case will run as, in case the setup must differ).

The token column
----------------
Every row of an endpoint with auth also runs as four *token actors* (`token:reporter_owner`,
`token:reporter_other`, `token:maintainer`, `token:admin`): the same user, authenticated with a
personal access token instead of a session. Each such case

1. probes, for every scope the row needs, a token holding *every other* scope: it must be
   refused (403) - no scope but the needed ones, alone or together, opens the operation. The
   probe is refused before anything is written, so the state the main request sees is intact;
2. then sends the row's request with a token holding *exactly* the row's scopes and expects the
   session actor's status: a token is allowed exactly when its scope and its user's role allow.

The scopes a row needs default to the scope of the endpoint's Action (`policy.SCOPES`); a row
whose service also checks other actions (a role change inside PUT /users/{id}) lists them with
`scopes=`. Endpoints that manage sign-in (`@endpoint(tokens=False)`) get one token case: a token
with every scope is refused (403). Anonymous endpoints get no token cases (a token is ignored
there). Setups see the base actor in `ctx.actor` and `ctx.credential` ("session" or "token").

Every response is also checked for shape: 401 carries `WWW-Authenticate: Bearer ...`, and every
4xx/5xx is an `application/problem+json` document with a readable `detail`.

Run only the matrix:
    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python -m pytest tests/permissions -q -p no:cacheprovider
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from tests.support.api import Api

ACTORS = ("anonymous", "reporter_owner", "reporter_other", "maintainer", "admin")
TOKEN = "token:"
TOKEN_ACTORS = tuple(TOKEN + a for a in ACTORS if a != "anonymous")

Status = int | tuple[int, ...]


@dataclass(frozen=True)
class Expect:
    anonymous: Status
    reporter_owner: Status
    reporter_other: Status
    maintainer: Status
    admin: Status

    def for_actor(self, actor: str) -> tuple[int, ...]:
        value: Status = getattr(self, actor)
        return value if isinstance(value, tuple) else (value,)


def expect(
    *,
    anonymous: Status,
    maintainer: Status,
    admin: Status,
    reporter: Status | None = None,
    reporter_owner: Status | None = None,
    reporter_other: Status | None = None,
) -> Expect:
    """Expected statuses; `reporter=` covers both reporter actors unless one is given explicitly."""
    owner = reporter_owner if reporter_owner is not None else reporter
    other = reporter_other if reporter_other is not None else reporter
    if owner is None or other is None:
        raise ValueError("give reporter=, or both reporter_owner= and reporter_other=")
    return Expect(
        anonymous=anonymous,
        reporter_owner=owner,
        reporter_other=other,
        maintainer=maintainer,
        admin=admin,
    )


@dataclass
class Prepared:
    """What a setup hands back for the request."""

    path: dict[str, str] = field(default_factory=dict)
    json: Any = None
    query: dict[str, str] | None = None
    headers: dict[str, str] | None = None


@dataclass
class Ctx:
    users: Any
    engine: Engine
    api: Api
    admin: Any
    maintainer: Any
    reporter: Any
    other_reporter: Any
    actor: str
    fixtures: dict[str, Any] = field(default_factory=dict)
    credential: str = "session"  # or "token" (the token column)

    def token(self, user: Any) -> str:
        return str(self.users.token(user))

    def api_as(self, user: Any) -> Api:
        return self.api.as_(self.token(user))

    def user_for(self, actor: str) -> Any:
        return {
            "anonymous": None,
            "reporter_owner": self.reporter,
            "reporter_other": self.other_reporter,
            "maintainer": self.maintainer,
            "admin": self.admin,
        }[actor]


@dataclass
class Row:
    function: str
    expect: Expect
    setup: Callable[[Ctx], Prepared | None] | None = None
    json: Any = None
    query: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    files: Any = None  # a multipart/form-data body, as requests' `files=`
    path: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    fixtures: tuple[str, ...] = ()
    variant: str = ""
    method: str | None = None
    # Token scopes the request needs (default: the scope of the endpoint's Action).
    scopes: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.function + (f"[{self.variant}]" if self.variant else "")


def all_rows() -> list[Row]:
    """Every row from every `rows_*.py` module in this package."""
    rows: list[Row] = []
    package_dir = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(package_dir)]), key=lambda i: i.name):
        if info.name.startswith("rows_"):
            module = importlib.import_module(f"tests.permissions.{info.name}")
            rows.extend(getattr(module, "ROWS", []))
    return rows


def registered_http_functions() -> dict[str, Any]:
    """name -> trackly.http.router.HttpFunction for every HTTP function in function_app.app."""
    import function_app
    from trackly.http.router import discover

    http, _timers = discover(function_app.app)
    return {f.name: f for f in http}


_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?(\??)\}")


def fill_route(route: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        _star, name, constraint, _optional = match.groups()
        if name in values:
            return str(values[name])
        if constraint == "guid":
            return str(uuid.uuid4())
        raise KeyError(f"route {route!r} needs a value for {{{name}}}: return it from the row's setup")

    return _PARAM.sub(replace, route)


def spec_of(row: Row) -> Any:
    """The endpoint declaration (trackly.http.endpoint.EndpointSpec) behind a row."""
    import function_app  # noqa: F401 (registers every endpoint)
    from trackly.http.endpoint import REGISTRY

    return REGISTRY[row.function]


def scopes_of(row: Row) -> tuple[str, ...]:
    from trackly.auth.policy import SCOPES

    spec = spec_of(row)
    endpoint_scope = SCOPES[spec.action].value
    return (endpoint_scope, *[s for s in row.scopes if s != endpoint_scope])


def iter_cases(rows: list[Row]) -> Iterator[tuple[Row, str]]:
    for row in rows:
        for actor in ACTORS:
            yield row, actor
        spec = spec_of(row)
        if not spec.auth:
            continue
        yield from ((row, actor) for actor in (TOKEN_ACTORS if spec.tokens else (TOKEN + "admin",)))
