"""Values at the edge of what Python and PostgreSQL accept never become a 500 (issue 16, items 1-2).

- A JSON integer longer than Python's int conversion limit (4,300 digits) is a 400, before
  authentication, on every JSON endpoint.
- A value PostgreSQL refuses (its class 22 "data exception") is a 400 problem, not a 500.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api, assert_problem
from trackly.http.endpoint import error_response

HUGE = "1" * 4301  # one digit over sys.get_int_max_str_digits()


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def test_huge_integer_in_login_body_is_400_before_authentication(
    api: Api, users: Any, engine: Engine
) -> None:
    users("ADMIN", email="a@b.c")
    body = '{"email": "a@b.c", "password": ' + HUGE + "}"
    resp = api.post("auth/login", data=body, headers={"Content-Type": "application/json"})
    assert_problem(resp, 400, "too many digits")
    assert _count(engine, "refresh_tokens") == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "issues"), ("POST", "auth/refresh"), ("POST", "auth/signup"), ("POST", "auth/exchange")],
)
def test_huge_integer_anywhere_in_a_json_body_is_400(
    as_reporter: Api, engine: Engine, method: str, path: str
) -> None:
    body = '{"title": "t", "nested": [{"n": -' + HUGE + "}]}"
    resp = as_reporter.request(method, path, data=body, headers={"Content-Type": "application/json"})
    assert_problem(resp, 400, "too many digits")
    assert _count(engine, "issues") == 0


def test_huge_integer_in_a_query_string_is_422(as_reporter: Api) -> None:
    assert_problem(as_reporter.get("issues", params={"limit": HUGE}), 422, "limit")
    assert_problem(as_reporter.get("events", params={"after": HUGE}), 422, "after")


def test_integer_just_under_the_limit_is_validated_normally(as_reporter: Api) -> None:
    body = '{"title": "t", "severity": ' + "9" * 4300 + "}"
    resp = as_reporter.post("issues", data=body, headers={"Content-Type": "application/json"})
    assert_problem(resp, 422, "severity")


def test_a_value_postgresql_refuses_is_a_400_problem(engine: Engine) -> None:
    """A real DataError from PostgreSQL (an offset of 16 hours), rendered by the endpoint layer."""
    with engine.connect() as conn, pytest.raises(sa_exc.DataError) as caught:
        conn.execute(text("SELECT CAST('2020-01-01T00:00:00-16:00' AS timestamptz)"))
    req = func.HttpRequest("GET", "http://127.0.0.1/api/issues", headers={}, body=b"")
    resp = error_response(caught.value, req, "req-1")
    assert resp.status_code == 400
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    body = resp.get_body().decode()
    assert "outside what the database accepts" in body
    assert "psycopg2" not in body and "timestamptz" not in body
