"""A Web PubSub REST double on 127.0.0.1, for tests and for `make run` without Azure.

It checks what the real service checks on server calls: an `Authorization: Bearer` HS256 JWT
signed with the AccessKey (its UTF-8 bytes), whose `aud` is the exact request URL including the
query string (as the SDK builds it), with an `exp` in the future; otherwise 401. It answers the
documented status codes and records every accepted message:

    POST /api/hubs/{hub}/:send                          -> 202
    POST /api/hubs/{hub}/groups/{group}/:send           -> 202
    POST /api/hubs/{hub}/users/{user}/:send             -> 202
    PUT  /api/hubs/{hub}/users/{user}/groups/{group}    -> 200
    HEAD /api/hubs/{hub}/groups/{group}                 -> 200 (has members) / 404
    POST /api/hubs/{hub}/:closeConnections              -> 204
    POST /api/hubs/{hub}/users/{user}/:closeConnections -> 204

Every call needs `?api-version=` (400 without). `fail_with(500)` makes calls fail (optionally only
for one group) until `recover()`. `GET /_double/messages` lists what was received (JSON).

Standalone (prints the connection string to put in WEBPUBSUB_CONNECTION_STRING):
    .venv/bin/python -m tests.support.webpubsub_double --port 7081
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

DEFAULT_ACCESS_KEY = "double-access-key-0123456789abcdefghijklmnopqrstuvwxyz"

_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/api/hubs/(?P<hub>[^/]+)/:send$"), "send_all"),
    ("POST", re.compile(r"^/api/hubs/(?P<hub>[^/]+)/groups/(?P<group>[^/]+)/:send$"), "send_group"),
    ("POST", re.compile(r"^/api/hubs/(?P<hub>[^/]+)/users/(?P<user>[^/]+)/:send$"), "send_user"),
    (
        "PUT",
        re.compile(r"^/api/hubs/(?P<hub>[^/]+)/users/(?P<user>[^/]+)/groups/(?P<group>[^/]+)$"),
        "add_user",
    ),
    ("HEAD", re.compile(r"^/api/hubs/(?P<hub>[^/]+)/groups/(?P<group>[^/]+)$"), "group_exists"),
    ("POST", re.compile(r"^/api/hubs/(?P<hub>[^/]+)/:closeConnections$"), "close"),
    ("POST", re.compile(r"^/api/hubs/(?P<hub>[^/]+)/users/(?P<user>[^/]+)/:closeConnections$"), "close_user"),
]


_USER_NE = re.compile(r"^userId ne '([^']+)'$")


def _excluded_users(odata: str) -> set[str] | None:
    """The users an OData filter of the form `userId ne 'a' and userId ne 'b'` excludes; None for
    any other filter (the real service understands far more; the app sends only this form)."""
    users = set()
    for clause in odata.split(" and "):
        match = _USER_NE.match(clause.strip())
        if match is None:
            return None
        users.add(match.group(1))
    return users


@dataclass
class Received:
    hub: str
    kind: str  # "all", "group" or "user"
    target: str | None
    content_type: str
    body: Any
    at: float = field(default_factory=time.time)
    filter: str | None = None  # the OData `filter` query parameter of the send, if any


class WebPubSubDouble:
    """`with WebPubSubDouble() as double: ...` or `start()`/`stop()`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_key: str = DEFAULT_ACCESS_KEY,
        audience_endpoint: str | None = None,
        echo: bool = False,
    ) -> None:
        self.access_key = access_key
        self.echo = echo
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self.closed_users: list[str] = []  # users whose connections the app closed
        self.rejected: list[tuple[int, str]] = []  # (status, reason) of refused calls
        self.calls = 0
        self._failure: tuple[int, str | None] | None = None
        self._members: dict[tuple[str, str], set[str]] = {}
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.endpoint = f"http://{host}:{self.port}"
        # The endpoint the token audience must name (a production-shaped one when the SDK is
        # used with reverse_proxy_endpoint pointing here).
        self.audience_endpoint = (audience_endpoint or self.endpoint).rstrip("/")
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    @property
    def connection_string(self) -> str:
        return f"Endpoint={self.endpoint};AccessKey={self.access_key};Version=1.0;"

    def start(self) -> WebPubSubDouble:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webpubsub-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebPubSubDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- control -----------------------------------------------------------------------------
    def fail_with(self, status: int, *, group: str | None = None) -> None:
        """Answer every call (or only sends to `group`) with `status` until `recover()`."""
        with self._lock:
            self._failure = (status, group)

    def recover(self) -> None:
        with self._lock:
            self._failure = None

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.closed_users.clear()
            self.rejected.clear()
            self._members.clear()
            self._failure = None
            self.calls = 0

    # --- what was received -------------------------------------------------------------------
    def group_messages(self, group: str) -> list[Any]:
        with self._lock:
            return [r.body for r in self.received if r.kind == "group" and r.target == group]

    def group_ids(self, group: str) -> list[int]:
        return [m["id"] for m in self.group_messages(group)]

    def delivered_to(self, group: str, user_id: str) -> list[int]:
        """Ids of the messages to `group` that a connection of `user_id` in it would receive
        (the send's filter applied)."""
        with self._lock:
            sent = [r for r in self.received if r.kind == "group" and r.target == group]
        return [r.body["id"] for r in sent if r.filter is None or user_id not in _excluded_users(r.filter)]

    def groups_received(self) -> set[str]:
        with self._lock:
            return {r.target for r in self.received if r.kind == "group" and r.target}

    # --- HTTP --------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if urlsplit(self.path).path == "/_double/messages":
                    with double._lock:
                        body = json.dumps([asdict(r) for r in double.received]).encode()
                    self._reply(200, body, "application/json")
                    return
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_HEAD(self) -> None:
                self._handle("HEAD")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

            def _reply(self, status: int, body: bytes = b"", ctype: str = "application/json") -> None:
                self.send_response(status)
                if body:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, status: int, reason: str) -> None:
                with double._lock:
                    double.rejected.append((status, reason))
                self._reply(status, json.dumps({"code": str(status), "message": reason}).encode())

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with double._lock:
                    double.calls += 1
                    failure = double._failure
                parts = urlsplit(self.path)
                route = next(
                    (
                        (name, m)
                        for verb, rx, name in _ROUTES
                        if verb == method and (m := rx.match(parts.path))
                    ),
                    None,
                )
                if route is None:
                    self._error(404, f"No such operation: {method} {parts.path}")
                    return
                name, match = route
                reason = double._check_token(self.headers.get("Authorization"), self.path)
                if reason:
                    self._error(401, reason)
                    return
                if "api-version" not in parse_qs(parts.query):
                    self._error(400, "The api-version query parameter is required.")
                    return
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                if failure is not None and (failure[1] is None or failure[1] == params.get("group")):
                    self._error(failure[0], "Failing on purpose (double.fail_with).")
                    return
                hub = params["hub"]
                if name in ("send_all", "send_group", "send_user"):
                    ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                    body: Any
                    if ctype == "application/json":
                        try:
                            body = json.loads(raw)
                        except ValueError:
                            self._error(400, "The body is not valid JSON.")
                            return
                    elif ctype == "text/plain":
                        body = raw.decode("utf-8", "replace")
                    elif ctype == "application/octet-stream":
                        body = raw
                    else:
                        self._error(415, f"Unsupported content type {ctype!r}.")
                        return
                    kind = {"send_all": "all", "send_group": "group", "send_user": "user"}[name]
                    target = params.get("group") or params.get("user")
                    odata = parse_qs(parts.query).get("filter", [None])[0]
                    if odata is not None and _excluded_users(odata) is None:
                        self._error(
                            400, f"Invalid filter (this double knows `userId ne '...'` and `and`): {odata!r}"
                        )
                        return
                    with double._lock:
                        double.received.append(Received(hub, kind, target, ctype, body, filter=odata))
                    if double.echo:
                        print(
                            f"[{kind} {target or hub}] {json.dumps(body) if ctype != 'application/octet-stream' else '<bytes>'}",
                            flush=True,
                        )
                    self._reply(202)
                elif name == "add_user":
                    with double._lock:
                        double._members.setdefault((hub, params["group"]), set()).add(params["user"])
                    self._reply(200)
                elif name == "group_exists":
                    with double._lock:
                        exists = bool(double._members.get((hub, params["group"])))
                    self._reply(200 if exists else 404)
                elif name == "close_user":
                    with double._lock:
                        double.closed_users.append(params["user"])
                    self._reply(204)
                else:  # close all connections
                    self._reply(204)

        return Handler

    def _check_token(self, authorization: str | None, raw_path: str) -> str | None:
        """None when the bearer token is valid for this exact URL, otherwise why not."""
        if not authorization or not authorization.startswith("Bearer "):
            return "A bearer token is required."
        token = authorization[len("Bearer ") :].strip()
        expected_audience = self.audience_endpoint + raw_path
        try:
            jwt.decode(
                token,
                self.access_key.encode("utf-8"),
                algorithms=["HS256"],
                audience=expected_audience,
                options={"require": ["exp", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            return "The token has expired."
        except jwt.InvalidAudienceError:
            return f"The token audience is not {expected_audience}."
        except jwt.InvalidTokenError as exc:
            return f"The token is not valid: {exc}."
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a Web PubSub REST double on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=7081)
    parser.add_argument("--access-key", default=DEFAULT_ACCESS_KEY)
    args = parser.parse_args()
    double = WebPubSubDouble(port=args.port, access_key=args.access_key, echo=True)
    print("Web PubSub double listening. Set:", flush=True)
    print(f'  WEBPUBSUB_CONNECTION_STRING="{double.connection_string}"', flush=True)
    print(f"Received messages: {double.endpoint}/_double/messages   (Ctrl+C to stop)", flush=True)
    try:
        double._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        double._server.server_close()


if __name__ == "__main__":
    main()
