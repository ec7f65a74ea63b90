"""GET /api/realtime/client.js, negotiate's last_event_id, and the local host starting the local
Web PubSub service only when none is configured."""

from __future__ import annotations

import os
import re
from typing import Any

from tests.realtime.conftest import make_issue, record_event
from tests.support.api import Api
from trackly.local.webpubsub import LocalWebPubSub


def test_the_module_is_public_javascript_with_an_etag(api: Api) -> None:
    response = api.get("realtime/client.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "export function connectLive" in response.text
    assert not re.search(r"^\s*import\s", response.text, re.MULTILINE)  # no dependencies

    etag = response.headers["ETag"]
    again = api.get("realtime/client.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    assert api.get("realtime/client.js", headers={"If-None-Match": '"stale"'}).status_code == 200


def test_negotiate_tells_where_a_new_client_starts(
    webpubsub: LocalWebPubSub, as_reporter: Api, as_maintainer: Api, reporter: Any, other_reporter: Any
) -> None:
    assert as_reporter.get("realtime/negotiate").json()["last_event_id"] == 0
    mine = record_event("issue_created", make_issue(reporter), reporter)
    theirs = record_event("issue_created", make_issue(other_reporter), other_reporter)
    assert as_reporter.get("realtime/negotiate").json()["last_event_id"] == mine  # not theirs
    assert as_maintainer.get("realtime/negotiate").json()["last_event_id"] == theirs


def test_the_local_host_starts_the_service_only_when_none_is_configured(settings_env: Any) -> None:
    from trackly.local.webpubsub import start_for_local_host

    settings_env(
        WEBPUBSUB_CONNECTION_STRING="Endpoint=https://x.webpubsub.azure.com;AccessKey=k;Version=1.0;"
    )
    assert start_for_local_host(port=0) is None

    settings_env(WEBPUBSUB_CONNECTION_STRING=None, WEBPUBSUB_ENDPOINT=None)
    service = start_for_local_host(port=0)
    assert service is not None
    try:
        assert os.environ["WEBPUBSUB_CONNECTION_STRING"] == service.connection_string
        from trackly.config import get_settings

        assert service.connection_string == get_settings().WEBPUBSUB_CONNECTION_STRING
    finally:
        service.stop()
        settings_env(WEBPUBSUB_CONNECTION_STRING=None)
