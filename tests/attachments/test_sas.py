"""What the upload SAS allows, checked against Azurite: one blob, create only, minutes of validity;
and the Blob CORS rules that let the front end PUT from the browser."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import requests

from tests.attachments.conftest import PNG, put_blob, start_upload
from trackly import clock


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def test_upload_sas_refuses_another_blob_name(as_reporter, reporter, issue_of, container) -> None:
    issue_id = issue_of(reporter)
    upload = start_upload(as_reporter, issue_id, PNG)["upload"]
    other = _with_path(upload["url"], urlsplit(upload["url"]).path.rsplit("/", 1)[0] + "/someone-else")
    resp = requests.put(other, data=PNG, headers=upload["headers"], timeout=10)
    assert resp.status_code == 403
    assert not container.get_blob_client(f"issues/{issue_id}/someone-else").exists()


def test_upload_sas_cannot_read_or_overwrite(as_reporter, reporter, issue_of, container) -> None:
    issue_id = issue_of(reporter)
    upload = start_upload(as_reporter, issue_id, PNG)["upload"]
    assert put_blob(upload, PNG).status_code == 201
    assert requests.get(upload["url"], timeout=10).status_code == 403
    # Create-only: the verified bytes cannot be swapped after the fact.
    assert put_blob(upload, b"<html>evil</html>").status_code == 403
    blob_name = urlsplit(upload["url"]).path.split("/issue-files/", 1)[1]
    assert container.get_blob_client(blob_name).download_blob().readall() == PNG


def test_upload_without_blob_type_header_is_refused(as_reporter, reporter, issue_of, container) -> None:
    upload = start_upload(as_reporter, issue_of(reporter), PNG)["upload"]
    resp = requests.put(upload["url"], data=PNG, headers={"Content-Type": "image/png"}, timeout=10)
    assert resp.status_code == 400


def test_expired_upload_sas_is_refused(as_reporter, reporter, issue_of, container) -> None:
    issue_id = issue_of(reporter)
    with clock.frozen(clock.now() - timedelta(minutes=11)):  # UPLOAD_SAS_MINUTES is 10
        upload = start_upload(as_reporter, issue_id, PNG)["upload"]
    assert put_blob(upload, PNG).status_code == 403


def test_expired_download_sas_is_refused(as_reporter, reporter, issue_of, container) -> None:
    from tests.attachments.conftest import upload_file

    issue_id = issue_of(reporter)
    active = upload_file(as_reporter, issue_id)
    with clock.frozen(clock.now() - timedelta(minutes=6)):  # DOWNLOAD_SAS_MINUTES is 5
        stale = as_reporter.get(f"issues/{issue_id}/attachments/{active['id']}/download").headers["Location"]
    fresh = as_reporter.get(f"issues/{issue_id}/attachments/{active['id']}/download").headers["Location"]
    assert requests.get(stale, timeout=10).status_code == 403
    assert requests.get(fresh, timeout=10).status_code == 200
    # A download SAS is read-only.
    assert (
        requests.put(fresh, data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10).status_code == 403
    )


def test_tampered_sas_is_refused(as_reporter, reporter, issue_of, container) -> None:
    upload = start_upload(as_reporter, issue_of(reporter), PNG)["upload"]
    tampered = {**upload, "url": upload["url"].replace("sp=c", "sp=rcw")}
    assert put_blob(tampered, PNG).status_code == 403


def test_cors_preflight_from_frontend_origin_only(storage_env, settings_env) -> None:
    from trackly.attachments import storage
    from trackly.config import get_settings

    settings_env(TRACKLY_ALLOWED_ORIGINS="http://localhost:5173,http://127.0.0.1:5173")
    settings = get_settings()
    store = storage.get_storage(settings)
    store.ensure_container()
    storage.configure_cors(store, settings.cors_origins)
    url = store.blob_url("issues/x/y")
    preflight = {
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "x-ms-blob-type,content-type,x-ms-version",
    }
    ok = requests.options(url, headers={"Origin": "http://localhost:5173", **preflight}, timeout=10)
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "PUT" in ok.headers["Access-Control-Allow-Methods"]
    assert "x-ms-blob-type" in ok.headers["Access-Control-Allow-Headers"]
    refused = requests.options(url, headers={"Origin": "https://evil.example", **preflight}, timeout=10)
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
