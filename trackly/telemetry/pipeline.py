"""The OpenTelemetry pipeline: providers, exporters, instrumentation, the app's spans and metrics.

Imported only when telemetry is on (TELEMETRY_EXPORTER is not `off`), on the first invocation.

- `azure_monitor`: Microsoft's distro (`configure_azure_monitor`) with the app's scrubbing span
  and log processors first in line; SQLAlchemy statement spans from the OpenTelemetry SQLAlchemy
  instrumentation; Blob Storage and Web PubSub spans from azure-core's tracing (the distro's
  `azure_sdk` instrumentation). psycopg2's own instrumentation is off: it would repeat every
  statement span.
- `console` / `file`: the same instrumentation and processors on the plain OpenTelemetry SDK,
  exporting JSON to stdout or to TELEMETRY_FILE (the distro cannot run without an Application
  Insights connection string).
- tests build a `Pipeline` with in-memory exporters (`Pipeline.build`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from trackly.telemetry import Invocation, Send, scrub

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy import Engine

    from trackly.config import Settings

log = logging.getLogger(__name__)

SCOPE = "trackly"
APP_LOGGER = "trackly"  # the logger tree exported as log records (the app's own logs)
# Queue snapshots older than this are not reported (the instance has stopped running the timer).
QUEUE_SNAPSHOT_MAX_AGE_SECONDS = 300.0


class ScrubSpans(SpanProcessor):
    """Masks secrets and personal data in a finished span before any exporter reads it.

    OpenTelemetry has no public API to edit an ended span; the ReadableSpan passed to `on_end` is a
    snapshot made for this end and handed to every processor in order, so replacing its attribute
    maps here (this processor is registered before the exporting ones) is what they export.
    tests/telemetry checks the exported result, so an SDK change that broke this would fail there.
    """

    def on_end(self, span: ReadableSpan) -> None:
        span._attributes = scrub.attributes(span.attributes)
        if span.events:
            from opentelemetry.sdk.trace import Event

            span._events = tuple(
                Event(e.name, scrub.attributes(e.attributes), e.timestamp) for e in span.events
            )
        if span.status.description:
            span._status = Status(span.status.status_code, scrub.text(span.status.description))


class ScrubLogs(LogRecordProcessor):
    """Masks secrets in every log record (body and attributes) before it is exported."""

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        if isinstance(record.body, str):
            record.body = scrub.text(record.body)
        if record.attributes:
            for name, item in list(record.attributes.items()):
                cleaned = scrub.value(name, item)
                if cleaned is not item:
                    record.attributes[name] = cleaned  # type: ignore[index]

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class Pipeline:
    """The app's tracer and meters on a set of providers, plus the instrumentation it turned on."""

    def __init__(
        self, tracer_provider: Any, meter_provider: Any, logger_provider: Any, *, own_log_handler: bool = True
    ) -> None:
        self._attached = False
        self.own_log_handler = own_log_handler
        self.tracer = tracer_provider.get_tracer(SCOPE)
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self._log_handler: logging.Handler | None = None
        self._queues: dict[str, tuple[float, int | None, float | None]] = {}
        self._queues_lock = threading.Lock()
        self._instrumented: set[int] = set()
        meter = meter_provider.get_meter(SCOPE)
        self._connections_usage = meter.create_up_down_counter(
            "db.client.connections.usage", unit="{connection}", description="Pool connections by state"
        )
        self.requests = meter.create_counter(
            "trackly.http.requests",
            unit="{request}",
            description="HTTP invocations by function and status class",
        )
        self.duration = meter.create_histogram(
            "trackly.http.duration",
            unit="ms",
            description="HTTP invocation duration by function and status class",
        )
        self.timer_runs = meter.create_counter(
            "trackly.timer.runs", unit="{run}", description="Timer runs by timer and outcome"
        )
        self.timer_duration = meter.create_histogram(
            "trackly.timer.duration", unit="ms", description="Timer run duration by timer and outcome"
        )
        self.sends = meter.create_counter(
            "trackly.outbound.sends", unit="{send}", description="Outbound sends by channel and outcome"
        )
        self.failures = meter.create_counter(
            "trackly.outbound.failures",
            unit="{send}",
            description="Failed outbound sends (publishes) by channel",
        )
        meter.create_observable_gauge(
            "trackly.db.pool.checked_out",
            callbacks=[self._pool_checked_out],
            unit="{connection}",
            description="Connections lent out by this instance's pool",
        )
        meter.create_observable_gauge(
            "trackly.db.pool.size",
            callbacks=[self._pool_size],
            unit="{connection}",
            description="Connections this instance's pool keeps (its configured size)",
        )
        meter.create_observable_gauge(
            "trackly.queue.oldest_age",
            callbacks=[self._queue_age],
            unit="s",
            description="Age of the oldest unsent item per channel (realtime: outbox lag)",
        )
        meter.create_observable_gauge(
            "trackly.queue.depth",
            callbacks=[self._queue_depth],
            unit="{item}",
            description="Unsent items per channel, as last counted by its timer",
        )

    # --- building -----------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        *,
        span_exporters: Sequence[SpanExporter] = (),
        log_exporters: Sequence[LogRecordExporter] = (),
        metric_readers: Sequence[MetricReader] = (),
        simple: bool = False,
    ) -> Pipeline:
        """The plain OpenTelemetry SDK (console, file, tests); `simple`: export each span as it
        ends (tests), instead of in batches."""
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        resource = Resource.create({"service.name": "trackly-functions"})
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(ScrubSpans())
        for exporter in span_exporters:
            tracer_provider.add_span_processor(
                SimpleSpanProcessor(exporter) if simple else BatchSpanProcessor(exporter)
            )
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(ScrubLogs())
        for log_exporter in log_exporters:
            logger_provider.add_log_record_processor(
                SimpleLogRecordProcessor(log_exporter) if simple else BatchLogRecordProcessor(log_exporter)
            )
        meter_provider = MeterProvider(metric_readers=list(metric_readers), resource=resource)
        # Global providers: azure-core's OpenTelemetry tracing uses the global tracer provider.
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        set_logger_provider(logger_provider)
        pipeline = cls(trace.get_tracer_provider(), metrics.get_meter_provider(), logger_provider)
        pipeline.attach()
        return pipeline

    def attach(self) -> None:
        """Instrumentation shared by every mode: SQLAlchemy, azure-core, the app's log records
        (the distro attaches its own log handler: `own_log_handler=False`). Idempotent."""
        if self._attached:
            return
        self._attached = True
        from trackly import db

        existing = db.current_engine()
        if existing is not None:
            self.instrument_engine(existing)
        from azure.core.settings import settings as azure_settings
        from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan

        azure_settings.tracing_implementation = OpenTelemetrySpan
        if self.own_log_handler:
            from opentelemetry.instrumentation.logging.handler import LoggingHandler

            self._log_handler = LoggingHandler(logger_provider=self.logger_provider)
            logging.getLogger(APP_LOGGER).addHandler(self._log_handler)

    def detach(self) -> None:
        """Undo `attach` (tests, the bench's telemetry-off rounds)."""
        self._attached = False
        from azure.core.settings import settings as azure_settings
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

        EngineTracer.remove_all_event_listeners()  # type: ignore[no-untyped-call]
        self._instrumented.clear()
        azure_settings.tracing_implementation = None
        if self._log_handler is not None:
            logging.getLogger(APP_LOGGER).removeHandler(self._log_handler)
            self._log_handler = None

    def instrument_engine(self, engine: Engine) -> None:
        """Statement spans for `engine` (the OpenTelemetry SQLAlchemy instrumentation's engine
        tracer, attached per engine: its global `instrument()` would also patch SQLAlchemy's
        asyncio module, which needs greenlet, and the app builds its engine itself anyway).
        Statement text is SQLAlchemy's, with placeholders: parameter values are never recorded."""
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

        if id(engine) in self._instrumented:
            return
        self._instrumented.add(id(engine))
        EngineTracer(self.tracer, engine, self._connections_usage, enable_commenter=False)  # type: ignore[no-untyped-call]

    # --- spans --------------------------------------------------------------------------------
    @contextmanager
    def invocation_span(
        self,
        inv: Invocation,
        *,
        request_id: str | None,
        invocation_id: str | None,
        trace_parent: str | None,
        route: str | None,
        method: str | None,
        headers: Mapping[str, str] | None,
    ) -> Iterator[None]:
        parent = None
        kind = SpanKind.INTERNAL
        if not trace.get_current_span().get_span_context().is_valid:
            carrier = {"traceparent": trace_parent} if trace_parent else _trace_headers(headers)
            parent = TraceContextTextMapPropagator().extract(carrier) if carrier else None
            if parent is None or not trace.get_current_span(parent).get_span_context().is_valid:
                parent, kind = None, SpanKind.SERVER  # nobody upstream: this span is the request
        name = f"{method} /api/{route}" if inv.trigger == "http" and method and route else f"timer {inv.name}"
        attributes: dict[str, Any] = {"faas.name": inv.name, "faas.trigger": inv.trigger}
        if invocation_id:
            attributes["faas.invocation_id"] = invocation_id
        if request_id:
            attributes["trackly.request_id"] = request_id
        if route:
            attributes["http.route"] = f"/api/{route}"
        if method:
            attributes["http.request.method"] = method
        token = otel_context.attach(parent) if parent is not None else None
        try:
            with self.tracer.start_as_current_span(
                name, kind=kind, attributes=attributes, record_exception=True, set_status_on_exception=True
            ) as span:
                inv.operation_id = format(span.get_span_context().trace_id, "032x")
                span.set_attribute("trackly.operation_id", inv.operation_id)
                try:
                    yield
                finally:
                    if inv.status_code is not None:
                        span.set_attribute("http.response.status_code", inv.status_code)
                        if inv.status_code >= 500:
                            span.set_status(Status(StatusCode.ERROR))
                    if inv.outcome is not None:
                        span.set_attribute("trackly.outcome", inv.outcome)
                        if inv.outcome != "success":
                            span.set_status(Status(StatusCode.ERROR))
        finally:
            if token is not None:
                otel_context.detach(token)

    @contextmanager
    def send_span(self, sent: Send, *, destination: str | None) -> Iterator[None]:
        attributes = {"trackly.channel": sent.channel}
        if destination:
            attributes["server.address"] = destination
        with self.tracer.start_as_current_span(
            f"send {sent.channel}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            try:
                yield
            except BaseException:
                sent.failed = True
                raise
            finally:
                if sent.status_code is not None:
                    span.set_attribute("http.response.status_code", sent.status_code)
                    sent.failed = sent.failed or sent.status_code >= 400
                if sent.failed:
                    span.set_status(Status(StatusCode.ERROR))
                outcome = "failed" if sent.failed else "sent"
                self.sends.add(1, {"channel": sent.channel, "outcome": outcome})
                if sent.failed:
                    self.failures.add(1, {"channel": sent.channel})

    # --- metrics ------------------------------------------------------------------------------
    def record_invocation(self, inv: Invocation, seconds: float) -> None:
        if inv.trigger == "http":
            labels = {"function": inv.name, "status_class": _status_class(inv.status_code)}
            self.requests.add(1, labels)
            self.duration.record(seconds * 1000, labels)
        else:
            labels = {"timer": inv.name, "outcome": inv.outcome or "failure"}
            self.timer_runs.add(1, labels)
            self.timer_duration.record(seconds * 1000, labels)

    def record_queue(self, channel: str, *, depth: int | None, oldest_age_seconds: float | None) -> None:
        with self._queues_lock:
            self._queues[channel] = (time.monotonic(), depth, oldest_age_seconds)

    def count_failures(self, channel: str, count: int) -> None:
        self.failures.add(count, {"channel": channel})

    def _fresh_queues(self) -> list[tuple[str, int | None, float | None]]:
        now = time.monotonic()
        with self._queues_lock:
            return [
                (channel, depth, age)
                for channel, (at, depth, age) in self._queues.items()
                if now - at <= QUEUE_SNAPSHOT_MAX_AGE_SECONDS
            ]

    def _queue_age(self, options: CallbackOptions) -> list[Observation]:
        return [Observation(age, {"channel": c}) for c, _d, age in self._fresh_queues() if age is not None]

    def _queue_depth(self, options: CallbackOptions) -> list[Observation]:
        return [Observation(d, {"channel": c}) for c, d, _a in self._fresh_queues() if d is not None]

    def _pools(self) -> list[Any]:
        from trackly import db

        engine = db.current_engine()
        return [engine.pool] if engine is not None else []

    def _pool_checked_out(self, options: CallbackOptions) -> list[Observation]:
        return [Observation(pool.checkedout()) for pool in self._pools() if hasattr(pool, "checkedout")]

    def _pool_size(self, options: CallbackOptions) -> list[Observation]:
        return [Observation(pool.size()) for pool in self._pools() if hasattr(pool, "size")]


def _status_class(status: int | None) -> str:
    return f"{status // 100}xx" if status else "unknown"


def _trace_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    if not headers:
        return {}
    out = {}
    for name in ("traceparent", "tracestate"):
        found = headers.get(name)
        if found:
            out[name] = str(found)
    return out


def from_settings(settings: Settings) -> Pipeline:
    mode = settings.TELEMETRY_EXPORTER
    if mode == "azure_monitor":
        return _azure_monitor(settings)
    out: IO[str]
    if mode == "file":
        from pathlib import Path

        path = Path(settings.TELEMETRY_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        out = path.open("a", encoding="utf-8")
    else:
        import sys

        out = sys.stdout
    from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return Pipeline.build(
        span_exporters=[ConsoleSpanExporter(out=out)],
        log_exporters=[ConsoleLogRecordExporter(out=out)],
        metric_readers=[
            PeriodicExportingMetricReader(ConsoleMetricExporter(out=out), export_interval_millis=60000)
        ],
    )


def _azure_monitor(settings: Settings) -> Pipeline:
    import os

    from azure.monitor.opentelemetry import configure_azure_monitor

    # The Functions resource (cloud.role and friends) and no VM metadata lookup, as the Python
    # worker does when it configures the distro itself.
    os.environ.setdefault("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "azure_functions")

    credential = None
    if os.environ.get("AZURE_CLIENT_ID"):
        # Application Insights accepts Entra-authenticated telemetry only (DisableLocalAuth).
        from azure.identity import ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=os.environ["AZURE_CLIENT_ID"])
    configure_azure_monitor(
        connection_string=settings.APPLICATIONINSIGHTS_CONNECTION_STRING or None,
        credential=credential,
        logger_name=APP_LOGGER,
        span_processors=[ScrubSpans()],
        log_record_processors=[ScrubLogs()],
        enable_live_metrics=False,
        instrumentation_options={
            "psycopg2": {"enabled": False},  # SQLAlchemy's spans say the same, with the ORM's view
            "django": {"enabled": False},
            "fastapi": {"enabled": False},
            "flask": {"enabled": False},
            "azure_sdk": {"enabled": True},
        },
    )
    from opentelemetry._logs import get_logger_provider

    # The distro already put its log handler on the app's logger.
    pipeline = Pipeline(
        trace.get_tracer_provider(),
        metrics.get_meter_provider(),
        get_logger_provider(),
        own_log_handler=False,
    )
    pipeline.attach()
    return pipeline
