"""Headers that keep answers out of caches, sniffers, frames and Referers (issue 16, item 8)."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.api import Api


def test_every_api_answer_says_nosniff(api: Api, as_reporter: Api) -> None:
    for resp in (
        as_reporter.get("auth/me"),  # JSON
        api.get("issues"),  # problem+json (401)
        api.get("docs"),  # HTML
        api.get("no-such-endpoint"),  # the host's own 404
    ):
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", (resp.url, resp.headers)


def test_authenticated_reads_are_private_and_revalidated(
    as_admin: Api, as_reporter: Api, reporter: Any
) -> None:
    issue = as_reporter.post("issues", {"title": "cache me not"}).json()
    comment = as_reporter.post(f"issues/{issue['id']}/comments", {"body": "me neither"}).json()
    for client, path in (
        (as_reporter, f"issues/{issue['id']}/comments/{comment['id']}"),
        (as_reporter, "auth/me"),
        (as_admin, "users"),
        (as_admin, f"users/{reporter.id}"),
        (as_reporter, f"issues/{issue['id']}/history"),
        (as_admin, "stats/summary"),
        (as_reporter, "events"),
    ):
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.text)
        assert resp.headers.get("Cache-Control") == "private, no-cache", (path, resp.headers)


def test_token_answers_are_never_stored(api: Api, users: Any) -> None:
    user = users("REPORTER", password="correct horse battery staple")
    resp = api.post("auth/login", json={"email": user.email, "password": "correct horse battery staple"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["Cache-Control"] == "no-store"


def test_docs_pages_cannot_be_framed_and_do_not_keep_a_pasted_token(api: Api) -> None:
    for page in ("docs", "redoc"):
        resp = api.get(page)
        assert resp.status_code == 200
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
    init = api.get("docs/assets/swagger-init.js").text
    assert "persistAuthorization: false" in init and "persistAuthorization: true" not in init


def _raw(base_url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    ("status", "request_bytes"),
    [
        (414, b"GET /api/issues?q=" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        (
            431,
            b"GET /api/issues HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H-%d: v\r\n" % i for i in range(120))
            + b"\r\n",
        ),
    ],
)
def test_the_local_host_answers_oversized_requests_with_problem_json(
    live_server: str, status: int, request_bytes: bytes
) -> None:
    code, headers, body = _raw(live_server, request_bytes)
    assert code == status
    assert headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status and problem["detail"]


def test_location_comes_from_the_local_hosts_own_address_not_the_host_header(
    live_server: str, as_reporter: Api
) -> None:
    resp = as_reporter.post("issues", {"title": "where am I"}, headers={"Host": "evil.example"})
    assert resp.status_code == 201, resp.text
    assert resp.headers["Location"].startswith(live_server + "/issues/"), resp.headers["Location"]
