"""Through Microsoft's Python worker (azure-functions-runtime) with PYTHON_ENABLE_OPENTELEMETRY:
the worker announces OpenTelemetry to the host and attaches the host's trace context to the
invocation, so the app's invocation span is a child of the host's request span (the operation id
in Application Insights is that trace id)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.telemetry.conftest import Exported
from tests.worker.harness import Worker


@pytest.fixture(scope="module")
def otel_worker(database_url: str) -> Iterator[Worker]:
    import function_app
    from trackly.http.router import indexed_functions

    app = function_app.app
    indexed = indexed_functions(app)
    real = app.get_functions
    app.get_functions = lambda: indexed  # type: ignore[method-assign]
    previous = os.environ.get("PYTHON_ENABLE_OPENTELEMETRY")
    os.environ["PYTHON_ENABLE_OPENTELEMETRY"] = "true"
    try:
        started = Worker()
    finally:
        app.get_functions = real  # type: ignore[method-assign]
        if previous is None:
            os.environ.pop("PYTHON_ENABLE_OPENTELEMETRY")
        else:
            os.environ["PYTHON_ENABLE_OPENTELEMETRY"] = previous
    yield started
    started.close()


def test_the_worker_enables_opentelemetry_for_the_host(otel_worker: Worker) -> None:
    capabilities = dict(otel_worker.init_response.capabilities)
    assert capabilities.get("WorkerOpenTelemetryEnabled") == "true"


def test_the_invocation_span_is_a_child_of_the_hosts_span(otel_worker: Worker, exported: Exported) -> None:
    trace_id, host_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    resp = otel_worker.http(
        "health",
        "GET",
        "health",
        headers={"X-Request-Id": "req-worker-1"},
        trace_parent=f"00-{trace_id}-{host_span}-01",
    )
    assert resp.status == 200
    [span] = [
        s for s in exported.spans.get_finished_spans() if (s.attributes or {}).get("faas.name") == "health"
    ]
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None and format(span.parent.span_id, "016x") == host_span
    assert span.attributes["trackly.request_id"] == "req-worker-1"
    assert span.attributes["faas.invocation_id"]  # the worker's invocation id
    # Statement spans of the health check hang below it.
    children = [
        s
        for s in exported.spans.get_finished_spans()
        if s.parent and s.parent.span_id == span.context.span_id
    ]
    assert any("SELECT" in s.name for s in children), [s.name for s in children]
