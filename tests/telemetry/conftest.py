"""One OpenTelemetry pipeline per test process, exporting to the SDK's in-memory exporters."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.attachments.conftest import storage_env  # noqa: F401 (fixture: the app on Azurite)
from tests.realtime.conftest import webpubsub, wps_server  # noqa: F401 (fixtures: local Web PubSub)


@dataclass
class Exported:
    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter
    metrics: InMemoryMetricReader
    pipeline: Any = None

    def clear(self) -> None:
        self.spans.clear()
        self.logs.clear()


_PIPELINE: Exported | None = None


@pytest.fixture
def exported(live_server: str) -> Iterator[Exported]:
    """Telemetry on for this test (the app's INFO logs included), off again afterwards."""
    global _PIPELINE
    from trackly import telemetry
    from trackly.telemetry.pipeline import Pipeline

    if _PIPELINE is None:  # global providers can be set once per process
        _PIPELINE = Exported(InMemorySpanExporter(), InMemoryLogRecordExporter(), InMemoryMetricReader())
        pipeline = Pipeline.build(
            span_exporters=[_PIPELINE.spans],
            log_exporters=[_PIPELINE.logs],
            metric_readers=[_PIPELINE.metrics],
            simple=True,
        )
        _PIPELINE.pipeline = pipeline
    telemetry.start(_PIPELINE.pipeline)
    app_logger = logging.getLogger("trackly")
    level = app_logger.level
    app_logger.setLevel(logging.INFO)
    _PIPELINE.clear()
    try:
        yield _PIPELINE
    finally:
        app_logger.setLevel(level)
        telemetry.stop()
