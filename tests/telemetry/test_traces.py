"""Real requests through the local host with telemetry on: the span tree of an invocation, the ids
on every log record, and no secret or personal value in anything exported."""

from __future__ import annotations

import json
import logging
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from tests.support.api import Api
from tests.telemetry.conftest import Exported

PASSWORD = "correct-Horse-battery-9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


def _invocation(spans: list[ReadableSpan], function: str) -> ReadableSpan:
    [span] = [s for s in spans if (s.attributes or {}).get("faas.name") == function]
    return span


def _descendants(spans: list[ReadableSpan], root: ReadableSpan) -> list[ReadableSpan]:
    by_parent: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        if span.parent is not None:
            by_parent.setdefault(span.parent.span_id, []).append(span)
    out, todo = [], [root]
    while todo:
        for child in by_parent.get(todo.pop().context.span_id, []):
            out.append(child)
            todo.append(child)
    return out


def _everything(exported: Exported) -> str:
    spans = [json.loads(s.to_json()) for s in exported.spans.get_finished_spans()]
    logs = [json.loads(r.to_json()) for r in exported.logs.get_finished_logs()]
    return json.dumps({"spans": spans, "logs": logs})


def test_an_upload_is_one_tree_of_sql_and_blob_spans(
    exported: Exported, api: Api, users: Any, storage_env: str
) -> None:
    reporter = users("REPORTER", password=PASSWORD)
    login = api.post("auth/login", json={"email": reporter.email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["tokens"]["access_token"]
    exported.clear()

    resp = api.as_(token).post(
        "files/upload",
        files={"file": ("shot.png", PNG, "image/png")},
        headers={"X-Request-Id": "req-upload-1"},
    )
    assert resp.status_code == 200, resp.text
    spans = list(exported.spans.get_finished_spans())
    root = _invocation(spans, "upload_file")
    assert root.name == "POST /api/files/upload"
    assert root.parent is None  # no host upstream here: the invocation is the trace's root
    assert root.attributes["trackly.request_id"] == "req-upload-1"
    assert root.attributes["http.response.status_code"] == 200
    operation_id = format(root.context.trace_id, "032x")
    assert root.attributes["trackly.operation_id"] == operation_id

    below = _descendants(spans, root)
    sql = [
        s for s in below if "db.statement" in (s.attributes or {}) or "db.query.text" in (s.attributes or {})
    ]
    assert len(sql) >= 2, [s.name for s in below]  # the session check, the attachment row
    for span in sql:
        statement = span.attributes.get("db.statement") or span.attributes.get("db.query.text")
        assert "%(" in statement or "$" in statement or "SELECT" in statement.upper()
        assert reporter.email not in statement  # bound, never inlined
    blob = [s for s in below if s.name == "BlobClient.upload_blob"]
    assert blob, [s.name for s in below]
    # azure-core's HTTP span of that call, with the account's URL and no query secrets.
    http = [s for s in _descendants(spans, blob[0]) if s.name == "PUT"]
    assert http and "/devstoreaccount1/" in str(
        http[0].attributes.get("url.full") or http[0].attributes.get("http.url")
    )
    # Every span of the request belongs to the invocation's trace: nothing is orphaned.
    request_spans = [s for s in spans if s.context.trace_id == root.context.trace_id]
    assert {s.context.span_id for s in request_spans} == {root.context.span_id} | {
        s.context.span_id for s in below
    }


def test_log_records_carry_the_operation_and_request_ids(exported: Exported, api: Api, users: Any) -> None:
    admin = users("ADMIN")
    token = users.token(admin)
    resp = api.as_(token).get("issues", headers={"X-Request-Id": "req-list-7"})
    assert resp.status_code == 200
    root = _invocation(list(exported.spans.get_finished_spans()), "list_issues")
    records = [r.log_record for r in exported.logs.get_finished_logs()]
    assert records, "the endpoint layer logs every request"
    for record in records:
        assert record.trace_id == root.context.trace_id
        assert record.attributes["trackly.request_id"] == "req-list-7"
        assert record.attributes["trackly.operation_id"] == format(root.context.trace_id, "032x")


def test_the_hosts_traceparent_parents_the_invocation(exported: Exported, api: Api) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    resp = api.get("health", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert resp.status_code == 200
    root = _invocation(list(exported.spans.get_finished_spans()), "health")
    assert format(root.context.trace_id, "032x") == trace_id
    assert root.parent is not None and format(root.parent.span_id, "016x") == "00f067aa0ba902b7"


def test_no_secret_or_personal_value_is_exported(
    exported: Exported, api: Api, users: Any, storage_env: str
) -> None:
    from trackly.config import get_settings

    reporter = users("REPORTER", password=PASSWORD)
    login = api.post("auth/login", json={"email": reporter.email, "password": PASSWORD})
    assert login.status_code == 200
    tokens = login.json()["tokens"]
    bad = api.post("auth/login", json={"email": reporter.email, "password": PASSWORD + "x"})
    assert bad.status_code == 401
    client = api.as_(tokens["access_token"])
    created = client.post(
        "issues", json={"title": "Leaky pipe", "description": "call me at " + reporter.email}
    )
    assert created.status_code == 201, created.text
    uploaded = client.post("files/upload", files={"file": ("shot.png", PNG, "image/png")})
    assert uploaded.status_code == 200
    link = uploaded.json()["file_url"]
    opened = api.get(link.split("/api/", 1)[1])  # the signed link: a query string carrying a signature
    assert opened.status_code == 302
    sas = opened.headers["Location"]
    sas_signature = dict(p.split("=", 1) for p in sas.split("?", 1)[1].split("&"))["sig"]
    link_query = link.split("?", 1)[1] if "?" in link else ""
    # An exception message with personal data, logged inside an invocation.
    from trackly import telemetry

    with telemetry.invocation("probe", trigger="http", request_id="req-probe"):
        logging.getLogger("trackly.probe").warning(
            "refused %s with Authorization: Bearer %s", reporter.email, tokens["access_token"]
        )

    text = _everything(exported)
    assert exported.spans.get_finished_spans() and exported.logs.get_finished_logs()
    secrets = {
        "password": PASSWORD,
        "access token": tokens["access_token"],
        "refresh token": tokens.get("refresh_token") or "absent-refresh-token",
        "email": reporter.email,
        "JWT key": get_settings().jwt_secret,
        "SAS signature": sas_signature,
        "account key": "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq",
    }
    if link_query:
        secrets["link query"] = link_query
    leaked = [name for name, value in secrets.items() if value and value in text]
    assert not leaked, f"exported telemetry contains: {leaked}"
    assert "[email]" in text and "Bearer [redacted]" in text  # the scrubber ran on the probe's log


def test_publishing_after_commit_is_a_web_pubsub_span_of_the_invocation(
    exported: Exported, api: Api, users: Any, webpubsub: Any
) -> None:
    from trackly.realtime import client

    client.reset_client()
    try:
        token = users.token(users("MAINTAINER"))
        resp = api.as_(token).post(
            "issues", json={"title": "Live one"}, headers={"X-Request-Id": "req-live-1"}
        )
        assert resp.status_code == 201, resp.text
    finally:
        client.reset_client()
    spans = list(exported.spans.get_finished_spans())
    root = _invocation(spans, "create_issue")
    below = _descendants(spans, root)
    sends = [s for s in below if s.name.endswith(".send_to_group")]
    assert sends, sorted({s.name for s in spans})
    http = [s for s in _descendants(spans, sends[0]) if s.name == "POST"]
    assert http, "azure-core's HTTP span of the publish"
    url = str(http[0].attributes.get("url.full") or http[0].attributes.get("http.url"))
    assert ":send" in url and "api-version=" in url  # the harmless query survives the scrubber
