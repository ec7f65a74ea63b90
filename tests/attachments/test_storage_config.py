"""Attachments without storage configuration, with storage down, and the storage client itself."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.attachments.conftest import PNG, put_blob, start_upload
from tests.support.api import assert_problem
from trackly import clock


def test_every_endpoint_answers_503_when_storage_is_not_configured(as_reporter, reporter, issue_of) -> None:
    issue_id = issue_of(reporter)
    one = f"issues/{issue_id}/attachments/{uuid.uuid4()}"
    calls = [
        (
            "POST",
            f"issues/{issue_id}/attachments",
            {"filename": "a.png", "content_type": "image/png", "size_bytes": 3},
        ),
        ("GET", f"issues/{issue_id}/attachments", None),
        ("POST", f"{one}/complete", None),
        ("GET", f"{one}/download", None),
        ("DELETE", one, None),
    ]
    for method, path, body in calls:
        resp = as_reporter.request(method, path, json=body)
        assert_problem(resp, 503, "attachments are not configured")
    # Everything else keeps working.
    assert as_reporter.get("health").status_code == 200


def test_storage_down_during_complete_is_503_and_retry_works(
    as_reporter, reporter, issue_of, *, storage_env, settings_env, engine
) -> None:
    from trackly.attachments.storage import dev_connection_string
    from trackly.local.azurite import free_port

    issue_id = issue_of(reporter)
    created = start_upload(as_reporter, issue_id, PNG)
    assert put_blob(created["upload"], PNG).status_code == 201
    attachment_id = created["attachment"]["id"]

    settings_env(
        AZURE_STORAGE_CONNECTION_STRING=dev_connection_string(
            f"http://127.0.0.1:{free_port()}/devstoreaccount1"
        )
    )
    resp = as_reporter.post(f"issues/{issue_id}/attachments/{attachment_id}/complete")
    body = assert_problem(resp, 503, "storage is unreachable")
    assert resp.headers["Retry-After"]
    assert "127.0.0.1" not in body["detail"]
    with engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM attachments WHERE id = :i"), {"i": attachment_id}
        ).scalar()
    assert status == "PENDING"

    settings_env(AZURE_STORAGE_CONNECTION_STRING=storage_env)
    retry = as_reporter.post(f"issues/{issue_id}/attachments/{attachment_id}/complete")
    assert retry.status_code == 200
    assert retry.json()["status"] == "ACTIVE"


def test_use_development_storage_connection_string_is_accepted(settings_env) -> None:
    from trackly.attachments import storage
    from trackly.config import get_settings

    settings_env(AZURE_STORAGE_CONNECTION_STRING="UseDevelopmentStorage=true")
    store = storage.get_storage(get_settings())
    assert store.account_name == "devstoreaccount1"
    assert store.blob_url("issues/a/b").startswith("http://127.0.0.1:10000/devstoreaccount1/issue-files/")
    assert not store.https
    storage.reset_clients()


def test_account_name_and_key_use_https_sas(settings_env) -> None:
    from urllib.parse import parse_qs, urlsplit

    from azure.storage.blob import BlobSasPermissions

    from trackly.attachments import storage
    from trackly.config import get_settings

    settings_env(AZURE_STORAGE_ACCOUNT_NAME="trackly", AZURE_STORAGE_ACCOUNT_KEY=storage.DEV_ACCOUNT_KEY)
    store = storage.get_storage(get_settings())
    url = store.sas_url("issues/a/b", permission=BlobSasPermissions(create=True), expires_at=clock.now())
    assert url.startswith("https://trackly.blob.core.windows.net/issue-files/issues/a/b?")
    assert parse_qs(urlsplit(url).query)["spr"] == ["https"]
    storage.reset_clients()


def test_clients_are_cached_per_settings(storage_env, settings_env) -> None:
    from trackly.attachments import storage
    from trackly.config import get_settings

    first = storage.get_storage(get_settings())
    assert storage.get_storage(get_settings()) is first
    settings_env(AZURE_STORAGE_CONTAINER_NAME="other-files")
    assert storage.get_storage(get_settings()) is not first


def test_user_delegation_key_is_cached_and_renewed_before_expiry() -> None:
    from trackly.attachments.storage import DELEGATION_KEY_RENEW_BEFORE, DelegationKeyCache

    calls: list[tuple[datetime, datetime]] = []

    def fetch(start: datetime, expiry: datetime) -> object:
        calls.append((start, expiry))
        return f"key-{len(calls)}"

    cache = DelegationKeyCache(fetch)  # type: ignore[arg-type]
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    with clock.frozen(t0):
        assert cache.get() == "key-1"
        assert cache.get() == "key-1"
    start, expiry = calls[0]
    assert start < t0 < expiry
    # Still cached until the renewal margin is reached, then renewed (well before it expires).
    with clock.frozen(expiry - DELEGATION_KEY_RENEW_BEFORE - timedelta(seconds=1)):
        assert cache.get() == "key-1"
    with clock.frozen(expiry - DELEGATION_KEY_RENEW_BEFORE):
        assert cache.get() == "key-2"
    assert len(calls) == 2


def test_importing_the_app_loads_no_storage_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, function_app; "
        "bad=[m for m in sys.modules if m.startswith(('azure.storage','azure.identity','puremagic'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
