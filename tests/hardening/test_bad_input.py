"""Bad-input corpus: every hostile or malformed request gets the right 4xx problem, nothing stored.

Sent over real HTTP (the local host in this process). After each case the row counts of every
table that a request could write must be unchanged.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api, assert_problem

TABLES = ("issues", "events", "attachments", "idempotency_keys", "users", "refresh_tokens")


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}  # noqa: S608


@pytest.fixture
def issue(as_reporter: Api) -> dict[str, Any]:
    resp = as_reporter.post("issues", {"title": "A real issue", "description": "hello", "severity": "LOW"})
    assert resp.status_code == 201, resp.text
    return {"id": resp.json()["id"], "etag": resp.headers["ETag"]}


def raw_http(base_url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send exact bytes (for what requests refuses to send) and parse the answer."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


# --- bodies ------------------------------------------------------------------------------------


def test_oversized_body_is_413_and_nothing_stored(as_reporter: Api, engine: Engine, settings_env) -> None:
    settings_env(MAX_REQUEST_BYTES=64 * 1024)
    before = counts(engine)
    body = json.dumps({"title": "big", "description": "x" * (200 * 1024)})
    resp = as_reporter.post("issues", data=body, headers={"Content-Type": "application/json"})
    assert_problem(resp, 413, "limit")
    assert counts(engine) == before


def test_body_just_over_the_default_limit_is_413(as_reporter: Api, engine: Engine) -> None:
    before = counts(engine)
    body = b'{"title": "t", "description": "' + b"a" * (1024 * 1024) + b'"}'
    resp = as_reporter.post("issues", data=body, headers={"Content-Type": "application/json"})
    assert_problem(resp, 413)
    assert counts(engine) == before


@pytest.mark.parametrize("depth", [100, 5000, 100_000])
def test_deeply_nested_json_is_a_4xx_problem(as_reporter: Api, engine: Engine, depth: int) -> None:
    before = counts(engine)
    nested = "[" * depth + "]" * depth
    body = '{"title": "nested", "description": ' + nested + "}"
    resp = as_reporter.post("issues", data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code in (400, 413, 422), resp.text[:300]
    assert_problem(resp, resp.status_code)
    assert counts(engine) == before


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"],
)
def test_wrong_content_type_is_415(as_reporter: Api, engine: Engine, content_type: str) -> None:
    before = counts(engine)
    resp = as_reporter.post("issues", data='{"title": "typed"}', headers={"Content-Type": content_type})
    assert_problem(resp, 415, "application/json")
    assert counts(engine) == before


def test_invalid_utf8_body_is_400(as_reporter: Api, engine: Engine) -> None:
    before = counts(engine)
    resp = as_reporter.post(
        "issues", data=b'{"title": "bad \xff\xfe bytes"}', headers={"Content-Type": "application/json"}
    )
    assert_problem(resp, 400, "UTF-8")
    assert counts(engine) == before


@pytest.mark.parametrize(
    "body",
    [b"{", b"null", b"[]", b'"a string"', b"123", b'{"title": NaN}', b'{"title": "x",}', b"\x00\x00"],
)
def test_malformed_or_wrong_shape_json_is_4xx(as_reporter: Api, engine: Engine, body: bytes) -> None:
    before = counts(engine)
    resp = as_reporter.post("issues", data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code in (400, 422), (body, resp.status_code, resp.text[:300])
    assert_problem(resp, resp.status_code)
    assert counts(engine) == before


def test_invalid_utf8_in_patch_body_is_400(as_reporter: Api, engine: Engine, issue: dict[str, Any]) -> None:
    before = counts(engine)
    resp = as_reporter.patch(
        f"issues/{issue['id']}", data=b'{"title": "\xc3\x28"}', headers={"Content-Type": "application/json"}
    )
    assert_problem(resp, 400)
    assert counts(engine) == before


# --- URLs and query strings ----------------------------------------------------------------------


def test_huge_query_string_is_414(as_reporter: Api, engine: Engine) -> None:
    resp = as_reporter.get("issues", params={"q": "x" * 20_000})
    assert_problem(resp, 414)


def test_search_longer_than_allowed_is_422(as_reporter: Api) -> None:
    resp = as_reporter.get("issues", params={"q": "a" * 201})
    assert_problem(resp, 422)


def test_invalid_percent_encoding_in_query_is_400(api: Api, as_reporter: Api) -> None:
    resp = as_reporter.get("issues?q=%ff%fe")
    assert_problem(resp, 400)


@pytest.mark.parametrize(
    "q",
    [
        "' OR 1=1 --",
        "'; DROP TABLE issues; --",
        '" OR ""="',
        "1) OR (1=1",
        "!!! & | :* <->",
        "%",
        "_",
        "\\",
        "title:*",
        "\u0000",
    ],
)
def test_sql_injection_in_search_finds_nothing_and_harms_nothing(
    as_reporter: Api, as_other_reporter: Api, engine: Engine, issue: dict[str, Any], q: str
) -> None:
    """Another reporter's search never reveals the issue, and nothing is changed or dropped."""
    before = counts(engine)
    resp = as_other_reporter.get("issues", params={"q": q})
    if resp.status_code == 200:
        assert resp.json() == []
        assert resp.headers["X-Total-Count"] == "0"
    else:
        assert_problem(resp, resp.status_code)
        assert 400 <= resp.status_code < 500
    assert counts(engine) == before
    assert as_reporter.get(f"issues/{issue['id']}").status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("status", "OPEN' OR 1=1 --"),
        ("severity", "LOW; DELETE FROM issues"),
        ("sort", "created_at; DROP TABLE issues"),
        ("created_by", "' OR 1=1 --"),
        ("created_after", "2024-01-01' OR '1'='1"),
        ("limit", "10 OR 1=1"),
        ("skip", "-1"),
        ("cursor", "' OR 1=1 --"),
    ],
)
def test_sql_injection_in_filters_is_422(
    as_other_reporter: Api, engine: Engine, issue: dict[str, Any], name: str, value: str
) -> None:
    before = counts(engine)
    resp = as_other_reporter.get("issues", params={name: value})
    assert 400 <= resp.status_code < 500, (name, value, resp.status_code, resp.text[:300])
    assert_problem(resp, resp.status_code)
    assert counts(engine) == before


def test_sql_injection_in_title_is_stored_verbatim(as_reporter: Api, engine: Engine) -> None:
    title = "Robert'); DROP TABLE issues;--"
    resp = as_reporter.post("issues", {"title": title})
    assert resp.status_code == 201
    assert as_reporter.get(f"issues/{resp.json()['id']}").json()["title"] == title
    assert counts(engine)["issues"] == 1


@pytest.mark.parametrize("path", ["issues/not-a-uuid", "issues/..%2F..%2Fetc%2Fpasswd", "issues/' OR 1=1 --"])
def test_malformed_ids_in_paths_are_404_problems(as_reporter: Api, path: str) -> None:
    resp = as_reporter.get(path)
    assert resp.status_code in (404, 422), resp.text[:300]
    assert_problem(resp, resp.status_code)


# --- headers ------------------------------------------------------------------------------------


def test_crlf_in_header_values_cannot_inject_headers(live_server: str, users, engine: Engine) -> None:
    """A CR/LF smuggled into a header value must not become a response header."""
    token = users.token(users("REPORTER"))
    host = urlsplit(live_server).netloc
    for value in ("abc\r\nSet-Cookie: pwned=1", "abc%0d%0aSet-Cookie:%20pwned=1"):
        request = (
            f"GET /api/issues HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"X-Request-Id: {value}\r\nConnection: close\r\n\r\n"
        ).encode()
        status, headers, _ = raw_http(live_server, request)
        assert "set-cookie" not in headers
        assert "pwned" not in headers.get("x-request-id", "")
        assert status in (200, 400)


def test_request_id_with_crlf_is_not_echoed(as_reporter: Api) -> None:
    resp = as_reporter.get("issues", headers={"X-Request-Id": "abc%0d%0aSet-Cookie: x=1"})
    assert resp.status_code == 200
    assert "Set-Cookie" not in resp.headers
    assert "%0d" not in resp.headers["X-Request-Id"]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer ' OR 1=1 --",
        "Bearer " + "a" * 10_000,
        "Basic YWRtaW46YWRtaW4=",
        "Bearer",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
    ],
)
def test_garbage_authorization_is_401(api: Api, authorization: str) -> None:
    resp = api.get("issues", headers={"Authorization": authorization})
    assert_problem(resp, 401)


@pytest.mark.parametrize("if_match", ['"unterminated', "W/", "' OR 1=1 --", '"a", , ,', "*" * 5000])
def test_garbage_if_match_never_writes(
    as_reporter: Api, engine: Engine, issue: dict[str, Any], if_match: str
) -> None:
    before = counts(engine)
    resp = as_reporter.patch(f"issues/{issue['id']}", {"title": "changed"}, headers={"If-Match": if_match})
    assert resp.status_code in (400, 412), resp.text[:300]
    assert_problem(resp, resp.status_code)
    assert counts(engine) == before
    assert as_reporter.get(f"issues/{issue['id']}").json()["title"] == "A real issue"


@pytest.mark.parametrize("key", ["", "a b", "x" * 300, "a\tb", "' OR 1=1 --"])
def test_bad_idempotency_keys_are_refused_or_ignored_safely(
    as_reporter: Api, engine: Engine, key: str
) -> None:
    resp = as_reporter.post("issues", {"title": "keyed"}, headers={"Idempotency-Key": key})
    if resp.status_code == 201:
        assert counts(engine)["issues"] == 1
    else:
        assert_problem(resp, resp.status_code)
        assert 400 <= resp.status_code < 500
        assert counts(engine)["issues"] == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("issues", {"title": "nul \u0000 in title"}),
        ("issues", {"title": "ok", "description": "nul \u0000 in description"}),
        ("auth/login", {"email": "a\u0000@example.com", "password": "password123"}),
    ],
)
def test_nul_characters_in_json_strings_are_4xx_not_500(
    as_reporter: Api, engine: Engine, path: str, body: dict[str, Any]
) -> None:
    """PostgreSQL text cannot hold U+0000; the API must refuse it (or strip it), never 500."""
    before = counts(engine)
    resp = as_reporter.post(path, body)
    assert resp.status_code < 500, (path, resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        assert_problem(resp, resp.status_code)
        assert counts(engine)["issues"] == before["issues"]


# --- users and auth bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"email": "' OR 1=1 --", "password": "' OR 1=1 --"},
        {"email": "admin@trackly.com' --", "password": "x"},
        {"email": {"$ne": None}, "password": {"$ne": None}},
        {"email": "a@b.c", "password": "p" * 100_000},
    ],
)
def test_login_injection_attempts_never_sign_in(
    api: Api, engine: Engine, users, body: dict[str, Any]
) -> None:
    users("ADMIN", email="admin@trackly.com")
    before = counts(engine)
    resp = api.post("auth/login", body)
    assert resp.status_code in (401, 413, 422), resp.text[:300]
    assert_problem(resp, resp.status_code)
    assert counts(engine)["refresh_tokens"] == before["refresh_tokens"]


# --- attachments: path traversal in file names ---------------------------------------------------


@pytest.mark.parametrize(
    "filename",
    [
        "../../etc/passwd",
        "..\\..\\windows\\system32\\config",
        "/absolute/path.png",
        "a/../../b.png",
        "x.png\x00.exe",
        "con.png\r\nX-Injected: 1",
        "",
        "." * 300 + ".png",
    ],
)
def test_path_traversal_in_attachment_filenames_never_reaches_the_blob_name(
    as_reporter: Api, engine: Engine, issue: dict[str, Any], filename: str
) -> None:
    before = counts(engine)
    resp = as_reporter.post(
        f"issues/{issue['id']}/attachments",
        {"filename": filename, "content_type": "image/png", "size_bytes": 100},
    )
    if resp.status_code in (200, 201):
        with engine.connect() as conn:
            blob_names = conn.execute(text("SELECT blob_name, filename FROM attachments")).all()
        for blob_name, stored in blob_names:
            assert ".." not in blob_name and "\\" not in blob_name and "\x00" not in blob_name
            assert not blob_name.startswith("/")
            assert "/" not in stored and "\\" not in stored and "\x00" not in stored and "\r" not in stored
    else:
        assert 400 <= resp.status_code < 500 or resp.status_code == 503, resp.text[:300]
        assert_problem(resp, resp.status_code)
        assert counts(engine) == before
