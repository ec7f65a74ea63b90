"""The app's OpenTelemetry metrics, read from the SDK's in-memory reader after real requests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api
from tests.telemetry.conftest import Exported


def _points(exported: Exported, name: str) -> list[tuple[dict[str, Any], Any]]:
    data = exported.metrics.get_metrics_data()
    out = []
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    out.extend((dict(p.attributes or {}), p) for p in metric.data.data_points)
    return out


def _count(exported: Exported, name: str, **labels: str) -> float:
    total = 0.0
    for attributes, point in _points(exported, name):
        if all(attributes.get(k) == v for k, v in labels.items()):
            total += getattr(point, "value", None) or getattr(point, "count", 0)
    return total


def test_requests_are_counted_and_timed_by_function_and_status_class(exported: Exported, api: Api) -> None:
    before_ok = _count(exported, "trackly.http.requests", function="health", status_class="2xx")
    before_denied = _count(exported, "trackly.http.requests", function="list_issues", status_class="4xx")
    assert api.get("health").status_code == 200
    assert api.get("issues").status_code == 401
    assert _count(exported, "trackly.http.requests", function="health", status_class="2xx") == before_ok + 1
    assert (
        _count(exported, "trackly.http.requests", function="list_issues", status_class="4xx")
        == before_denied + 1
    )
    assert _count(exported, "trackly.http.duration", function="list_issues", status_class="4xx") >= 1


def test_timer_runs_pool_and_queue_gauges(exported: Exported, api: Api) -> None:
    from trackly import telemetry
    from trackly.http.timers import Run, execute

    def broken(run: Run) -> None:
        raise RuntimeError("boom")

    ok_before = _count(exported, "trackly.timer.runs", timer="cleanup_attachments", outcome="success")
    failed_before = _count(exported, "trackly.timer.runs", timer="cleanup_attachments", outcome="failure")
    execute("cleanup_attachments", lambda run: None)
    with pytest.raises(RuntimeError):
        execute("cleanup_attachments", broken)
    assert (
        _count(exported, "trackly.timer.runs", timer="cleanup_attachments", outcome="success")
        == ok_before + 1
    )
    assert (
        _count(exported, "trackly.timer.runs", timer="cleanup_attachments", outcome="failure")
        == failed_before + 1
    )

    telemetry.record_queue("realtime", depth=3, oldest_age_seconds=42.0)
    telemetry.count_failures("realtime", 2)
    assert api.get("health").status_code == 200  # the pool has served a request
    [(labels, age)] = _points(exported, "trackly.queue.oldest_age")
    assert labels == {"channel": "realtime"} and age.value == 42.0
    assert _count(exported, "trackly.outbound.failures", channel="realtime") >= 2
    [(_labels, size)] = _points(exported, "trackly.db.pool.size")
    assert size.value >= 1
    assert _points(exported, "trackly.db.pool.checked_out")


def test_sends_through_the_public_api_are_spans_and_counted(exported: Exported) -> None:
    from trackly import telemetry

    with telemetry.invocation("deliver_webhooks", trigger="timer") as inv:
        with telemetry.send("webhook", destination="hooks.example.com") as sent:
            sent.status_code = 202
        with pytest.raises(TimeoutError), telemetry.send("webhook", destination="slow.example.com"):
            raise TimeoutError("no answer")
        inv.outcome = "success"
    spans = exported.spans.get_finished_spans()
    sends = [s for s in spans if s.name == "send webhook"]
    [root] = [s for s in spans if s.name == "timer deliver_webhooks"]
    assert len(sends) == 2 and all(s.parent.span_id == root.context.span_id for s in sends)
    assert {s.status.status_code.name for s in sends} == {"UNSET", "ERROR"}
    assert _count(exported, "trackly.outbound.sends", channel="webhook", outcome="sent") >= 1
    assert _count(exported, "trackly.outbound.sends", channel="webhook", outcome="failed") >= 1
