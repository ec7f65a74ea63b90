"""The local host gives up on requests that stop arriving (issue 23, item 8): unfinished headers
and a body shorter than its Content-Length answer 408 problem+json after the socket timeout
instead of holding a thread; a refused CORS preflight is problem+json too."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator

import pytest
import requests

import function_app
from trackly.local.host import SOCKET_TIMEOUT_SECONDS, build_server

TIMEOUT = 1.0  # the server's bound here; the client waits far longer, so speed never matters


@pytest.fixture(scope="module")
def host(database_url: str) -> Iterator[int]:
    server, _ = build_server(function_app.app, "127.0.0.1", 0, socket_timeout=TIMEOUT)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def _exchange(port: int, raw: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send `raw` and read the answer (the client waits up to 60 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        return str(response.status), {k.lower(): v for k, v in response.getheaders()}, body


def test_the_default_bound_is_seconds_not_minutes() -> None:
    assert 1 <= SOCKET_TIMEOUT_SECONDS <= 30


def test_unfinished_headers_answer_408_problem_json(host: int) -> None:
    status, headers, body = _exchange(host, b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nAccept: app")
    assert status == "408", status
    assert headers["content-type"].startswith("application/problem+json")
    assert json.loads(body)["status"] == 408
    assert "headers" in json.loads(body)["detail"]


def test_a_body_shorter_than_its_length_answers_408_problem_json(host: int) -> None:
    raw = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n" + b'{"email": "a@example.com"'
    )
    status, headers, body = _exchange(host, raw)
    assert status == "408", status
    assert headers["content-type"].startswith("application/problem+json")
    assert "body" in json.loads(body)["detail"]


def test_a_refused_preflight_is_problem_json(host: int) -> None:
    resp = requests.options(
        f"http://127.0.0.1:{host}/api/issues",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert resp.status_code == 403
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "https://evil.example" in resp.json()["detail"]
