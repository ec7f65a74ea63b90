"""Traces, metrics and log correlation for every invocation (OpenTelemetry), off unless configured.

What the rest of the app calls (nothing here imports OpenTelemetry until telemetry is switched on,
and the pipeline is built on a background thread once the process's first invocation has
answered, never at import and never on a request's path: cold start, see start_in_background):

    with telemetry.invocation("get_issue", trigger="http", request_id=rid, ...) as inv:
        ...                              # the endpoint and timer layers do this for every call
        inv.status_code = 200

    with telemetry.send("webhook", destination="hooks.example.com") as sent:
        response = client.post(url, ...)   # an outbound send of a channel (webhook, email, ...)
        sent.status_code = response.status_code   # >= 400, or an exception, counts as failed

    telemetry.record_queue("webhook", depth=12, oldest_age_seconds=40.0)  # a timer's snapshot
    telemetry.count_failures("realtime", 3)                               # sends that failed

`send` opens a CLIENT span `send <channel>` under the current invocation and counts the send in
`trackly.outbound.sends{channel, outcome}`; never put a URL with its query, a recipient address or a
message body in `destination`: pass the host name only (the scrubber would mask an email anyway).

Settings (docs/observability.md): TELEMETRY_EXPORTER = off | azure_monitor | console | file, and
TELEMETRY_FILE for `file`.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from trackly.config import Settings
    from trackly.telemetry.pipeline import Pipeline

log = logging.getLogger(__name__)

# The invocation a log record or span belongs to (read by the log record factory below).
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "trackly_request_id", default=None
)
invocation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "trackly_invocation_id", default=None
)
operation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "trackly_operation_id", default=None
)

_lock = threading.Lock()
_started = False  # the pipeline was built (or telemetry is off)
_starting = False  # a background start is under way
_ready = threading.Event()
_pipeline: Pipeline | None = None


@dataclass
class Invocation:
    """What the caller reports back about one invocation."""

    name: str
    trigger: str
    status_code: int | None = None
    outcome: str | None = None  # timers: "success" / "failure"
    operation_id: str | None = None


@dataclass
class Send:
    channel: str
    status_code: int | None = None
    failed: bool = False


def _record_factory_with_ids() -> None:
    """Every log record carries the request id, invocation id and operation id (the trace id)
    of the invocation it was written in, as attributes handlers and exporters can read."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_trackly", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        request_id = request_id_var.get()
        if request_id is not None:
            # Dotted names: no `extra=` of a log call can collide with them.
            setattr(record, "trackly.request_id", request_id)
            setattr(record, "trackly.invocation_id", invocation_id_var.get())
            setattr(record, "trackly.operation_id", operation_id_var.get())
        return record

    factory._trackly = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def ensure_started(settings: Settings | None = None) -> Pipeline | None:
    """Build the pipeline now, once per process; None while telemetry is off."""
    global _started, _pipeline
    if _started:
        return _pipeline
    from trackly.config import SettingsError

    with _lock:
        if _started:
            return _pipeline
        _record_factory_with_ids()
        try:
            if settings is None:
                from trackly.config import get_settings

                settings = get_settings()
            if settings.TELEMETRY_EXPORTER != "off":
                from trackly.telemetry.pipeline import from_settings

                _pipeline = from_settings(settings)
        except SettingsError as exc:  # requests answer 503 `misconfigured` and say why
            log.warning("telemetry stays off: %s", exc)
            _pipeline = None
        except Exception:  # telemetry must never take a request down with it
            log.exception("telemetry could not be configured; continuing without it")
            _pipeline = None
        _started = True
        _ready.set()
    return _pipeline


def start_in_background() -> None:
    """Build the pipeline on a thread of its own (once). Called when the first invocation of the
    process has answered: the distro costs a new instance ~0.4 s (bench/README.md, issue 28), which
    its first response would otherwise wait for. Invocations until it is ready are not traced by
    the app (the host still records them)."""
    global _starting
    if _started or _starting:  # without the lock: a start under way holds it while it builds
        return
    with _lock:
        if _started or _starting:
            return
        _starting = True
    threading.Thread(target=_start_quietly, name="trackly-telemetry-start", daemon=True).start()


def _start_quietly() -> None:
    global _starting
    try:
        ensure_started()
    finally:
        _starting = False


def wait_until_ready(timeout: float) -> bool:
    """True once the pipeline was built or telemetry is known to be off (tests, the bench)."""
    return _ready.wait(timeout)


def start(pipeline: Pipeline) -> None:
    """Use `pipeline` (tests: in-memory exporters) instead of the one from settings."""
    global _started, _pipeline
    with _lock:
        _record_factory_with_ids()
        pipeline.attach()
        _pipeline, _started = pipeline, True
        _ready.set()


def stop() -> None:
    """Stop emitting (tests): instrumentation removed, the next invocation rereads the settings."""
    global _started, _pipeline
    with _lock:
        if _pipeline is not None:
            _pipeline.detach()
        _pipeline, _started = None, False
        _ready.clear()


def instrument_engine(engine: Engine) -> None:
    """Called by trackly.db for each engine it builds (statement spans, pool gauges)."""
    if _pipeline is not None:
        _pipeline.instrument_engine(engine)


@contextmanager
def invocation(
    name: str,
    *,
    trigger: str,
    request_id: str | None = None,
    invocation_id: str | None = None,
    trace_parent: str | None = None,
    route: str | None = None,
    method: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Iterator[Invocation]:
    """The span of one function invocation, the parent of everything it does.

    Its parent is the host's span: the Python worker attaches the host's trace context to the
    invocation's thread when PYTHON_ENABLE_OPENTELEMETRY is true; otherwise `trace_parent` (the
    worker's `context.trace_context.trace_parent`) or an incoming W3C `traceparent` header."""
    pipeline = _pipeline
    if not _started:
        _record_factory_with_ids()
    inv = Invocation(name=name, trigger=trigger)
    tokens = [request_id_var.set(request_id or invocation_id), invocation_id_var.set(invocation_id)]
    started = time.perf_counter()
    try:
        if pipeline is None:
            yield inv
            return
        with pipeline.invocation_span(
            inv,
            request_id=request_id,
            invocation_id=invocation_id,
            trace_parent=trace_parent,
            route=route,
            method=method,
            headers=headers,
        ):
            tokens.append(operation_id_var.set(inv.operation_id))
            yield inv
    finally:
        if pipeline is not None:
            pipeline.record_invocation(inv, time.perf_counter() - started)
        for token in reversed(tokens):
            token.var.reset(token)
        if not _started:
            start_in_background()  # after this answer, off its path


@contextmanager
def send(channel: str, *, destination: str | None = None) -> Iterator[Send]:
    """One outbound send of `channel` (webhook, email, ...): a CLIENT span and a counted outcome."""
    pipeline = _pipeline
    sent = Send(channel=channel)
    if pipeline is None:
        yield sent
        return
    with pipeline.send_span(sent, destination=destination):
        yield sent


def record_queue(channel: str, *, depth: int | None = None, oldest_age_seconds: float | None) -> None:
    """A timer's snapshot of a channel's backlog, reported by the `trackly.queue.*` gauges."""
    if _pipeline is not None:
        _pipeline.record_queue(channel, depth=depth, oldest_age_seconds=oldest_age_seconds)


def count_failures(channel: str, count: int = 1) -> None:
    """Sends of `channel` that failed outside a `send` block (e.g. the Web PubSub publisher)."""
    if _pipeline is not None and count:
        _pipeline.count_failures(channel, count)


__all__ = [
    "Invocation",
    "Send",
    "count_failures",
    "ensure_started",
    "instrument_engine",
    "invocation",
    "record_queue",
    "send",
    "start",
    "start_in_background",
    "stop",
    "wait_until_ready",
]
