"""The endpoint layer: validation, problem+json, size limits, transactions, routing, CORS.

Exercised through a small FunctionApp of test endpoints served by the real local host.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

import azure.functions as func
import pytest
import requests
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from sqlalchemy import func as sa_func
from sqlalchemy import select, text

from tests.support.api import Api, assert_problem
from trackly import db
from trackly.auth.policy import Action
from trackly.errors import Conflict
from trackly.http import Call, QueryModel, Reply, RequestModel, endpoint
from trackly.http.endpoint import REGISTRY
from trackly.models import Role, User

bp = func.Blueprint()
AFTER_COMMIT: list[str] = []


class EchoBody(RequestModel):
    title: Annotated[str, Field(min_length=1, max_length=10)]
    count: int = 0


class EchoQuery(QueryModel):
    tag: list[str] = []
    limit: Annotated[int, Field(ge=1, le=5)] = 2


class ThingPath(BaseModel):
    thing_id: uuid.UUID


@endpoint(
    bp,
    "POST",
    "t/echo",
    auth=False,
    body=EchoBody,
    query=EchoQuery,
    response=dict,
    summary="echo",
    tags=["test"],
)
def t_echo(call: Call[None, EchoQuery, EchoBody]) -> dict[str, Any]:
    return {
        "title": call.body.title,
        "count": call.body.count,
        "tags": call.query.tag,
        "limit": call.query.limit,
    }


@endpoint(
    bp,
    "GET",
    "t/things/{thing_id:guid}",
    auth=False,
    path=ThingPath,
    response=dict,
    summary="thing",
    tags=["test"],
)
def t_thing(call: Call[ThingPath, None, None]) -> dict[str, str]:
    return {"id": str(call.path.thing_id)}


@endpoint(bp, "GET", "t/things", auth=False, response=list, summary="things", tags=["test"])
def t_things(call: Call[None, None, None]) -> list[int]:
    return [1, 2, 3]


@endpoint(bp, "POST", "t/boom", auth=False, summary="boom", tags=["test"])
def t_boom(call: Call[None, None, None]) -> None:
    raise RuntimeError("secret internal detail: password=hunter2")


@endpoint(bp, "POST", "t/db-down", auth=False, summary="db down", tags=["test"])
def t_db_down(call: Call[None, None, None]) -> None:
    raise sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))


@endpoint(bp, "POST", "t/write-then-fail", auth=False, summary="partial", tags=["test"])
def t_write_then_fail(call: Call[None, None, None]) -> None:
    call.session.add(User(email="partial@example.com", full_name="Partial", role=Role.REPORTER))
    call.session.flush()
    db.on_commit(call.session, lambda: AFTER_COMMIT.append("fail"))
    raise Conflict("Refused after writing; nothing may remain.")


@endpoint(bp, "POST", "t/write", auth=False, summary="write", tags=["test"], status=201)
def t_write(call: Call[None, None, None]) -> Reply:
    call.session.add(User(email="kept@example.com", full_name="Kept", role=Role.REPORTER))
    db.on_commit(call.session, lambda: AFTER_COMMIT.append("ok"))
    return Reply({"ok": True}, headers={"Location": call.url_for("t/things")})


@endpoint(bp, "GET", "t/me", action=Action.SELF_READ, summary="needs auth", tags=["test"], response=dict)
def t_me(call: Call[None, None, None]) -> dict[str, str]:
    return {"email": call.user.email or ""}


@endpoint(bp, "DELETE", "t/nothing", auth=False, summary="no content", tags=["test"])
def t_nothing(call: Call[None, None, None]) -> None:
    return None


@endpoint(bp, "GET", "t/cached", auth=False, response=dict, summary="not modified", tags=["test"])
def t_cached(call: Call[None, None, None]) -> Reply:
    return Reply(status=304, headers={"ETag": '"v1"'})


@endpoint(bp, "GET", "t/ip", auth=False, summary="client ip", tags=["test"], response=dict)
def t_ip(call: Call[None, None, None]) -> dict[str, str]:
    return {"ip": call.client_ip}


class OptionalBody(RequestModel):
    note: str = "default"


@endpoint(
    bp,
    "POST",
    "t/optional",
    auth=False,
    body=OptionalBody,
    body_required=False,
    response=dict,
    summary="optional body",
    tags=["test"],
)
def t_optional(call: Call[None, None, OptionalBody]) -> dict[str, str]:
    return {"note": call.body.note}


# Kept out of the real OpenAPI document, but at hand for direct dispatch.
SPECS = {name: REGISTRY.pop(name) for name in [n for n in REGISTRY if n.startswith("t_")]}

test_app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
test_app.register_functions(bp)


@pytest.fixture(scope="module")
def test_server(database_url: str) -> Iterator[Api]:
    from trackly.local.host import build_server

    server, _ = build_server(test_app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Api(f"http://127.0.0.1:{server.server_port}/api")
    server.shutdown()
    server.server_close()


@pytest.fixture
def t(test_server: Api, engine) -> Api:  # engine: the autouse fixture then truncates tables
    return test_server


def test_valid_request_and_repeatable_query(t: Api) -> None:
    r = t.post("t/echo?tag=a&tag=b&limit=3", json={"title": "hello", "count": 2})
    assert r.status_code == 200
    assert r.json() == {"title": "hello", "count": 2, "tags": ["a", "b"], "limit": 3}
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["X-Request-Id"]


def test_field_errors_are_listed(t: Api) -> None:
    r = t.post("t/echo?limit=9", json={"title": "", "extra": 1})
    body = assert_problem(r, 422, "not valid")
    locs = {e["loc"] for e in body["errors"]}
    assert {"query.limit", "body.title", "body.extra"} <= locs
    assert all(isinstance(e["msg"], str) and e["msg"] for e in body["errors"])
    assert body["instance"] == "/api/t/echo"


def test_missing_body_is_422(t: Api) -> None:
    assert_problem(t.post("t/echo"), 422, "body is required")


def test_malformed_json_is_400(t: Api) -> None:
    r = t.post("t/echo", data=b'{"title": ', headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "not valid JSON")


def test_invalid_utf8_is_400(t: Api) -> None:
    r = t.post("t/echo", data=b'{"title": "\xff\xfe"}', headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "UTF-8")


def test_deeply_nested_json_is_rejected(t: Api) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    r = t.post("t/echo", data=deep, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 413), r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")


def test_wrong_content_type_is_415(t: Api) -> None:
    r = t.post("t/echo", data="title=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(r, 415, "application/json")


def test_body_over_limit_is_413(t: Api, settings_env) -> None:
    settings_env(MAX_REQUEST_BYTES="2048")
    r = t.post("t/echo", json={"title": "x" * 5000})
    assert_problem(r, 413, "limit is 2048 bytes")


def test_huge_url_is_414(t: Api) -> None:
    assert_problem(t.get("t/things?x=" + "a" * 9000), 414)


def test_unknown_route_404_and_wrong_method_405(t: Api) -> None:
    assert_problem(t.get("t/nothing-here"), 404, "no endpoint")
    r = t.delete("t/echo")
    assert_problem(r, 405, "not allowed")
    assert "POST" in r.headers["Allow"]


def test_route_constraints_and_trailing_slash(t: Api) -> None:
    thing = uuid.uuid4()
    assert t.get(f"t/things/{thing}").json() == {"id": str(thing)}
    assert_problem(t.get("t/things/not-a-guid"), 404)
    assert t.get("t/things").json() == [1, 2, 3]
    assert t.get("t/things/").json() == [1, 2, 3]


def test_unexpected_error_is_500_without_internals(t: Api) -> None:
    r = t.post("t/boom", headers={"X-Request-Id": "req-123"})
    assert_problem(r, 500, "req-123")
    assert "hunter2" not in r.text and "RuntimeError" not in r.text
    assert r.headers["X-Request-Id"] == "req-123"


def test_database_failure_is_503_with_retry_after(t: Api) -> None:
    r = t.post("t/db-down")
    assert_problem(r, 503, "database is unavailable")
    assert r.headers["Retry-After"]
    assert "server closed" not in r.text


def test_failed_request_writes_nothing_and_skips_after_commit(t: Api, engine) -> None:
    AFTER_COMMIT.clear()
    assert_problem(t.post("t/write-then-fail"), 409, "nothing may remain")
    with engine.connect() as conn:
        assert conn.execute(select(sa_func.count()).select_from(User)).scalar() == 0
    assert AFTER_COMMIT == []


def test_successful_request_commits_then_runs_after_commit(t: Api, engine) -> None:
    AFTER_COMMIT.clear()
    r = t.post("t/write")
    assert r.status_code == 201
    assert r.headers["Location"].endswith("/api/t/things")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT email FROM users")).scalars().all() == ["kept@example.com"]
    assert AFTER_COMMIT == ["ok"]


def test_auth_required_endpoint_says_how_to_sign_in(t: Api) -> None:
    r = t.get("t/me")
    assert_problem(r, 401, "Bearer")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_cors_preflight_and_response_headers(t: Api, settings_env) -> None:
    settings_env(TRACKLY_ALLOWED_ORIGINS="http://localhost:5173")
    ok = requests.options(
        t.url("t/echo"),
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    denied = requests.options(
        t.url("t/echo"),
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert denied.status_code == 403
    assert "Access-Control-Allow-Origin" not in denied.headers
    r = t.get("t/things", headers={"Origin": "http://localhost:5173"})
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "X-Total-Count" in r.headers["Access-Control-Expose-Headers"]
    assert "Origin" in r.headers["Vary"]
    r = t.get("t/things", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Expose-Headers" not in r.headers


EXPOSED = {
    "ETag",
    "Location",
    "Link",
    "X-Total-Count",
    "Retry-After",
    "X-Request-Id",
    "RateLimit-Policy",
    "RateLimit",
}


def test_the_app_exposes_its_headers_itself_not_the_host(t: Api, settings_env) -> None:
    """Azure's host never sends Access-Control-Expose-Headers, so the app must (local host neither)."""
    from trackly.http.endpoint import dispatch

    settings_env(TRACKLY_ALLOWED_ORIGINS="http://localhost:5173")
    origin = {"Origin": "http://localhost:5173"}
    spec = SPECS["t_write"]
    for headers in (origin, {**origin, "Content-Type": "application/json"}):
        request = func.HttpRequest("POST", "http://h/api/t/write", headers=headers, body=b"")
        response = dispatch(spec, request, "inv-1")
        exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
        assert exposed == EXPOSED
    # Errors too (a 500 from the endpoint layer carries X-Request-Id a script may quote).
    boom = func.HttpRequest("POST", "http://h/api/t/boom", headers=origin, body=b"")
    failed = dispatch(SPECS["t_boom"], boom, None)
    assert failed.status_code == 500 and "X-Request-Id" in failed.headers["Access-Control-Expose-Headers"]
    # The local host adds only what the platform adds: Allow-Origin (its 404s carry no Expose).
    r = t.get("t/no-such-route", headers=origin)
    assert r.status_code == 404
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "Access-Control-Expose-Headers" not in r.headers


def test_empty_answers_name_a_content_type_like_the_worker_would(t: Api) -> None:
    """The Python worker sends `text/plain` for a response without Content-Type; 204 and 304
    carry the endpoint's own type instead, the same locally and on Azure."""
    r = t.delete("t/nothing")
    assert r.status_code == 204 and r.content == b""
    assert r.headers["Content-Type"] == "application/json"
    r = t.get("t/cached")
    assert r.status_code == 304 and r.content == b""
    assert r.headers["Content-Type"] == "application/json" and r.headers["ETag"] == '"v1"'


def test_nul_characters_are_refused_before_the_database(t: Api) -> None:
    body = assert_problem(t.post("t/echo", json={"title": "a\u0000b"}), 422, "NUL")
    assert body["errors"][0]["type"] == "nul_character"
    assert_problem(t.post("t/echo?tag=%00", json={"title": "ok"}), 400, "NUL")
    # A literal backslash followed by "u0000" is ordinary text.
    assert t.post("t/echo", json={"title": "\\u0000"}).status_code == 200


def test_client_ip_is_the_address_the_host_saw_not_a_forged_header(t: Api) -> None:
    assert t.get("t/ip").json() == {"ip": "127.0.0.1"}
    forged = t.get("t/ip", headers={"X-Forwarded-For": "203.0.113.9"})
    assert forged.json() == {"ip": "127.0.0.1"}


def test_json_null_body_is_invalid_but_an_absent_optional_body_means_defaults(t: Api) -> None:
    assert t.post("t/optional").json() == {"note": "default"}
    assert t.post("t/optional", json={"note": "x"}).json() == {"note": "x"}
    assert_problem(t.post("t/optional", data="null", headers={"Content-Type": "application/json"}), 422)
    assert_problem(t.post("t/echo", data="null", headers={"Content-Type": "application/json"}), 422)
