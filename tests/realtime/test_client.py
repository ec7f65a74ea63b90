"""The Web PubSub client: connection string or managed identity, cached, never built at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api
from trackly.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_managed_identity_client_is_built_from_the_endpoint_without_network() -> None:
    from azure.identity import DefaultAzureCredential

    from trackly.realtime.client import build_client

    settings = Settings(
        TRACKLY_ENV="development",
        WEBPUBSUB_ENDPOINT="https://trackly-prod.webpubsub.azure.com",
        WEBPUBSUB_HUB="trackly",
    )
    client = build_client(settings)
    assert client._config.endpoint == "https://trackly-prod.webpubsub.azure.com"
    assert client._config.hub == "trackly"
    assert isinstance(client._config.credential, DefaultAzureCredential)


def test_connection_string_wins_and_the_client_is_cached_per_settings() -> None:
    from azure.core.credentials import AzureKeyCredential

    from trackly.realtime.client import get_client, reset_client

    reset_client()
    one = Settings(
        TRACKLY_ENV="development",
        WEBPUBSUB_CONNECTION_STRING="Endpoint=http://127.0.0.1:7081;AccessKey=test-access-key-0123456789abcdefghijklmnop;Version=1.0;",
        WEBPUBSUB_ENDPOINT="https://ignored.webpubsub.azure.com",
    )
    client = get_client(one)
    assert isinstance(client._config.credential, AzureKeyCredential)
    assert client._config.endpoint == "http://127.0.0.1:7081"
    assert get_client(one) is client
    other = Settings(
        TRACKLY_ENV="development",
        WEBPUBSUB_CONNECTION_STRING="Endpoint=http://127.0.0.1:7082;AccessKey=test-access-key-0123456789abcdefghijklmnop;Version=1.0;",
    )
    assert get_client(other) is not client
    reset_client()


def test_importing_the_app_loads_no_web_pubsub_sdk() -> None:
    code = (
        "import sys, function_app; "
        "print([m for m in sys.modules if m.startswith(('azure.messaging', 'azure.identity'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_unreachable_service_does_not_fail_the_request(
    settings_env: Any, as_reporter: Api, engine: Engine
) -> None:
    settings_env(
        WEBPUBSUB_CONNECTION_STRING="Endpoint=http://127.0.0.1:9;AccessKey=test-access-key-0123456789abcdefghijklmnop;Version=1.0;"
    )
    response = as_reporter.post("issues", json={"title": "Nobody listens", "description": ""})
    assert response.status_code == 201, response.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events WHERE published_at IS NULL")).scalar() == 1
