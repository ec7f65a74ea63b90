"""The local host: serves function_app.py without Azure Functions Core Tools.

It discovers HTTP and timer functions from the FunctionApp (no second route list), routes
`/api/...` like the Functions host (templates, constraints, methods, 404/405 as problem+json),
serves requests concurrently on threads, applies CORS for TRACKLY_ALLOWED_ORIGINS, and fires timer
functions on their NCRONTAB schedules.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import azure.functions as func
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from trackly.config import Settings, SettingsError, get_settings
from trackly.http.endpoint import REGISTRY, error_response, problem_response
from trackly.http.problems import PROBLEM_CONTENT_TYPE, problem_body
from trackly.http.router import HttpFunction, Router, TimerFunction, discover

log = logging.getLogger("trackly.local.host")

ROOT = Path(__file__).resolve().parents[1]

CORS_ALLOW_HEADERS = "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id"
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
# How long a connection may stay silent: a request whose headers or body stop arriving (or an idle
# kept-alive connection) is given up after this, instead of holding a thread indefinitely.
SOCKET_TIMEOUT_SECONDS = 10.0

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def load_local_settings(path: Path | None = None) -> dict[str, str]:
    """Copy `Values` from local.settings.json into the environment (existing variables win),
    as Core Tools does."""
    path = path or ROOT / "local.settings.json"
    if not path.exists():
        return {}
    values = json.loads(path.read_text()).get("Values", {})
    applied = {}
    for key, value in values.items():
        if key not in os.environ:
            os.environ[key] = str(value)
            applied[key] = str(value)
    return applied


class _Context:
    """The parts of func.Context our functions use."""

    def __init__(self, name: str) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = name
        self.function_directory = str(ROOT)


class LocalTimerRequest(func.TimerRequest):
    def __init__(self, past_due: bool = False) -> None:
        self._past_due = past_due

    @property
    def past_due(self) -> bool:
        return self._past_due


def _call_user_function(fn: Callable[..., Any], name: str, trigger_arg: str, value: Any) -> Any:
    params = inspect.signature(fn).parameters
    kwargs: dict[str, Any] = {trigger_arg: value}
    if "context" in params:
        kwargs["context"] = _Context(name)
    return fn(**kwargs)


class LocalHost:
    """A WSGI application that invokes the FunctionApp's HTTP functions."""

    def __init__(self, app: func.FunctionApp) -> None:
        self.http_functions, self.timers = discover(app)
        self.router = Router(self.http_functions)

    # --- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        path = environ.get("PATH_INFO", "/")
        query = environ.get("QUERY_STRING", "")
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        # Like Azure's front end: append the peer address the client cannot forge.
        peer = environ.get("REMOTE_ADDR") or "unknown"
        prior = headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
        # The address this host was started on, never the Host header: URLs the app builds
        # from the request (Location, Link) must not be steerable by whoever sends the request.
        server_name = environ["SERVER_NAME"]
        if server_name in ("0.0.0.0", "::", ""):  # noqa: S104 (a wildcard bind, not a bind here)
            server_name = "localhost"
        elif ":" in server_name:
            server_name = f"[{server_name}]"
        host = f"{server_name}:{environ['SERVER_PORT']}"
        url = f"http://{host}{quote(path, safe='/:@!$&()*+,;=-._~')}" + (f"?{query}" if query else "")
        origin = headers.get("Origin")
        settings: Settings | None = None
        try:
            settings = get_settings()
            cors_origins, body_limit = settings.cors_origins, settings.MAX_REQUEST_BYTES
        except SettingsError:  # the function itself answers 503 and says why in the log
            cors_origins, body_limit = [], Settings.model_fields["MAX_REQUEST_BYTES"].default
        allowed_origin = origin if origin and origin in cors_origins else None

        if method == "OPTIONS" and "Access-Control-Request-Method" in headers:
            return self._preflight(start_response, allowed_origin, origin, path=path, allowed=cors_origins)

        request_id = uuid.uuid4().hex
        try:
            function, route_params = self.router.match(method, path)
            body_limit = _body_limit(function, settings, body_limit)
        except MethodNotAllowed as exc:
            self._read_body(environ, body_limit)  # consumed, so a kept-alive connection stays in step
            allowed = ", ".join(sorted(exc.valid_methods or []))
            response = problem_response(
                405,
                f"{method} is not allowed on {path}; use {allowed}.",
                request_id=request_id,
                instance=path,
                headers={"Allow": allowed},
            )
            log.warning("unrouted request: %s %s -> 405 (allowed: %s)", method, path, allowed)
        except NotFound:
            self._read_body(environ, body_limit)
            response = problem_response(
                404, f"There is no endpoint at {path}.", request_id=request_id, instance=path
            )
            log.warning("unrouted request: %s %s -> 404", method, path)
        else:
            try:
                body = self._read_body(environ, body_limit)
            except TimeoutError:
                return self._send(_body_timed_out(method, path, request_id), start_response, allowed_origin)
            request = func.HttpRequest(
                method=method,
                url=url,
                headers=headers,
                params=_single_params(query),
                route_params=route_params,
                body=body,
            )
            try:
                response = self._invoke(function, request)
            except Exception as exc:  # mirror the Functions host: never an HTML error page
                log.exception("function %s failed outside the endpoint layer", function.name)
                response = error_response(exc, request, request_id)
        return self._send(response, start_response, allowed_origin)

    def _invoke(self, function: HttpFunction, request: func.HttpRequest) -> func.HttpResponse:
        result = _call_user_function(function.user_function, function.name, "req", request)
        if not isinstance(result, func.HttpResponse):
            raise TypeError(f"{function.name} returned {type(result).__name__}, not HttpResponse")
        return result

    @staticmethod
    def _read_body(environ: dict[str, Any], limit: int) -> bytes:
        stream = environ.get("wsgi.input")
        if stream is None:
            return b""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= 0:
            return b""
        # Read one byte past the limit: enough for the endpoint layer to answer 413.
        data: bytes = stream.read(min(length, limit + 1))
        return data

    @staticmethod
    def _preflight(
        start_response: StartResponse,
        allowed_origin: str | None,
        origin: str | None,
        *,
        path: str,
        allowed: list[str],
    ) -> Iterable[bytes]:
        if allowed_origin is None:
            # So a browser client's CORS failure shows in the terminal, not only in its console.
            log.warning(
                "refused preflight: OPTIONS %s -> 403 (origin %s is not in %s)",
                path,
                origin or "(none)",
                ", ".join(allowed) or "(no allowed origins)",
            )
            body = problem_body(
                403,
                f"Origin {origin or '(none)'} is not allowed to call this API "
                "(TRACKLY_ALLOWED_ORIGINS lists the origins that are).",
                slug="origin-not-allowed",
                instance=path,
            )
            start_response(
                "403 Forbidden",
                [
                    ("Content-Type", PROBLEM_CONTENT_TYPE),
                    ("Content-Length", str(len(body))),
                    ("X-Content-Type-Options", "nosniff"),
                    ("Vary", "Origin"),
                ],
            )
            return [body]
        start_response(
            "204 No Content",
            [
                ("Access-Control-Allow-Origin", allowed_origin),
                ("Access-Control-Allow-Methods", CORS_METHODS),
                ("Access-Control-Allow-Headers", CORS_ALLOW_HEADERS),
                ("Access-Control-Max-Age", "600"),
                ("Vary", "Origin"),
            ],
        )
        return [b""]

    @staticmethod
    def _send(
        response: func.HttpResponse, start_response: StartResponse, allowed_origin: str | None
    ) -> Iterable[bytes]:
        headers = [(k, v) for k, v in response.headers.items()]
        names = {k.lower() for k, _ in headers}
        if "content-type" not in names:
            # What the Python worker does (azure.functions HttpResponseConverter): a response
            # without Content-Type gets its mimetype, `text/plain; charset=utf-8` by default,
            # body or not.
            ctype = response.mimetype
            if ctype.startswith("text/"):
                ctype += f"; charset={response.charset}"
            headers.append(("Content-Type", ctype))
        if allowed_origin:
            # Like the Functions host's CORS: only Allow-Origin. Access-Control-Expose-Headers
            # is the app's own business (trackly.http.endpoint), as it is on Azure.
            headers.append(("Access-Control-Allow-Origin", allowed_origin))
            if "vary" not in names:
                headers.append(("Vary", "Origin"))
        from http import HTTPStatus

        code = response.status_code
        phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Status"
        start_response(f"{code} {phrase}", headers)
        return [response.get_body() or b""]

    # --- timers -------------------------------------------------------------------------------
    def start_timers(self, stop: threading.Event) -> list[threading.Thread]:
        threads = []
        for timer in self.timers:
            thread = threading.Thread(
                target=self._timer_loop, args=(timer, stop), name=f"timer-{timer.name}", daemon=True
            )
            thread.start()
            threads.append(thread)
        return threads

    def _timer_loop(self, timer: TimerFunction, stop: threading.Event) -> None:
        schedule = resolve_schedule(timer.schedule)
        if timer.run_on_startup:
            self.run_timer(timer)
        while not stop.is_set():
            delay = seconds_until_next(schedule, datetime.now(UTC))
            if stop.wait(delay):
                return
            self.run_timer(timer)

    def run_timer(self, timer: TimerFunction, past_due: bool = False) -> None:
        try:
            _call_user_function(timer.user_function, timer.name, timer.arg_name, LocalTimerRequest(past_due))
        except Exception:  # a failing timer must not take the host down
            log.exception("timer %s failed", timer.name)


def _body_timed_out(method: str, path: str, request_id: str) -> func.HttpResponse:
    log.warning("request body timed out: %s %s -> 408", method, path)
    return problem_response(
        408,
        "The request body stopped arriving before its Content-Length was reached; nothing was done.",
        request_id=request_id,
        instance=path,
        headers={"Connection": "close"},
    )


def _body_limit(function: HttpFunction, settings: Settings | None, default: int) -> int:
    """The function's own request body limit (e.g. the multipart upload's), else the default."""
    spec = REGISTRY.get(function.name)
    return spec.body_limit(settings) if spec is not None and settings is not None else default


def resolve_schedule(schedule: str) -> str:
    """`%STATS_SCHEDULE%` -> the value of that app setting, as the Functions host does."""
    match = re.fullmatch(r"%([A-Za-z0-9_]+)%", schedule.strip())
    if not match:
        return schedule
    name = match.group(1)
    value = os.environ.get(name) or getattr(get_settings(), name, "")
    if not value:
        raise ValueError(f"timer schedule refers to app setting {name}, which is not set")
    return str(value)


def seconds_until_next(ncrontab: str, now: datetime) -> float:
    """NCRONTAB has six fields with seconds first; croniter takes them with second_at_beginning."""
    from croniter import croniter

    fields = ncrontab.split()
    if len(fields) != 6:
        raise ValueError(f"NCRONTAB needs six fields (seconds first): {ncrontab!r}")
    it = croniter(ncrontab, now, second_at_beginning=True)
    nxt: datetime = it.get_next(datetime)
    return max(0.0, (nxt - now).total_seconds())


def _single_params(query: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    try:
        return dict(parse_qsl(query, keep_blank_values=True))
    except ValueError:
        return {}


class _RequestHandler(WSGIRequestHandler):
    """Errors the HTTP server answers before any function runs (a request line too long: 414,
    too many or too long headers: 431, a malformed request: 400) are problem+json, like every
    other error of this API, instead of the standard library's HTML page."""

    timeout = SOCKET_TIMEOUT_SECONDS  # socketserver.StreamRequestHandler sets it on the socket

    def parse_request(self) -> bool:
        try:
            return bool(super().parse_request())
        except TimeoutError:  # the request line came, the headers never finished
            self.send_error(408)
            return False

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.close_connection = True
        reasons = {
            408: f"The request headers did not arrive within {self.timeout:g} s.",
            414: "The request URL is too long.",
            431: "The request headers are too large (too many, or one too long).",
        }
        detail = reasons.get(code) or f"The request could not be read: {message or 'malformed request'}."
        body = problem_body(code, detail)
        self.send_response(code, message)
        self.send_header("Content-Type", PROBLEM_CONTENT_TYPE)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)


def build_server(
    app: func.FunctionApp, host: str, port: int, *, socket_timeout: float = SOCKET_TIMEOUT_SECONDS
) -> tuple[BaseWSGIServer, LocalHost]:
    local = LocalHost(app)
    handler = type("RequestHandler", (_RequestHandler,), {"timeout": socket_timeout})
    server = make_server(host, port, local, threaded=True, request_handler=handler)
    return server, local
