"""What `create` refuses before handing out a URL, and what `complete` rejects after looking at
the blob (the blob is deleted, the row is REJECTED and stays so)."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from tests.attachments.conftest import PNG, put_blob, start_upload
from tests.support.api import assert_problem


def _status(engine, attachment_id: str) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status, rejected_reason FROM attachments WHERE id = :i"), {"i": attachment_id}
        ).one()
    return row.status, row.rejected_reason


def test_oversize_is_refused_before_any_url(
    as_reporter, reporter, issue_of, *, container, settings_env, engine
) -> None:
    settings_env(MAX_ATTACHMENT_BYTES="1000")
    issue_id = issue_of(reporter)
    resp = as_reporter.post(
        f"issues/{issue_id}/attachments",
        json={"filename": "big.png", "content_type": "image/png", "size_bytes": 1001},
    )
    body = assert_problem(resp, 422, "limit is 1000 bytes")
    assert "url" not in json.dumps(body)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attachments")).scalar() == 0


def test_disallowed_type_is_refused(as_reporter, reporter, issue_of, container) -> None:
    for ctype in ("text/html", "image/svg+xml", "application/x-msdownload"):
        resp = as_reporter.post(
            f"issues/{issue_of(reporter)}/attachments",
            json={"filename": "x", "content_type": ctype, "size_bytes": 10},
        )
        assert_problem(resp, 422, "cannot be attached")


def test_content_type_is_normalized(as_reporter, reporter, issue_of, container) -> None:
    created = start_upload(as_reporter, issue_of(reporter), PNG, content_type="Image/PNG; foo=bar")
    assert created["attachment"]["content_type"] == "image/png"


def test_bad_bodies_are_422(as_reporter, reporter, issue_of, container) -> None:
    issue_id = issue_of(reporter)
    for body in (
        {"filename": "a.png", "content_type": "image/png", "size_bytes": 0},
        {"filename": "", "content_type": "image/png", "size_bytes": 5},
        {"filename": "a.png", "content_type": "image/png"},
        {"filename": "a.png", "content_type": "image/png", "size_bytes": 5, "blob_name": "x"},
    ):
        assert_problem(as_reporter.post(f"issues/{issue_id}/attachments", json=body), 422)


def test_per_issue_cap_counts_pending_and_active(
    as_reporter, reporter, issue_of, container, settings_env
) -> None:
    settings_env(MAX_ATTACHMENTS_PER_ISSUE="2")
    issue_id = issue_of(reporter)
    first = start_upload(as_reporter, issue_id, PNG)
    start_upload(as_reporter, issue_id, PNG)
    body = {"filename": "c.png", "content_type": "image/png", "size_bytes": len(PNG)}
    assert_problem(as_reporter.post(f"issues/{issue_id}/attachments", json=body), 409, "limit is 2")
    # A deleted one frees a slot.
    assert as_reporter.delete(f"issues/{issue_id}/attachments/{first['attachment']['id']}").status_code == 200
    assert as_reporter.post(f"issues/{issue_id}/attachments", json=body).status_code == 201


def _rejects(client, issue_id, created, *, engine, container, reason: str) -> None:
    attachment_id = created["attachment"]["id"]
    resp = client.post(f"issues/{issue_id}/attachments/{attachment_id}/complete")
    body = assert_problem(resp, 422, reason)
    assert body["attachment"]["status"] == "REJECTED"
    # The REJECTED state was committed, the blob is gone, and asking again gives the same answer.
    assert _status(engine, attachment_id) == ("REJECTED", body["detail"])
    assert not container.get_blob_client(f"issues/{issue_id}/{attachment_id}").exists()
    assert_problem(client.post(f"issues/{issue_id}/attachments/{attachment_id}/complete"), 422, reason)
    assert client.get(f"issues/{issue_id}/attachments").json() == []


def test_size_mismatch_is_rejected(as_reporter, reporter, issue_of, container, engine) -> None:
    issue_id = issue_of(reporter)
    created = start_upload(as_reporter, issue_id, PNG, size=len(PNG) + 5)
    assert put_blob(created["upload"], PNG).status_code == 201
    _rejects(
        as_reporter,
        issue_id,
        created,
        engine=engine,
        container=container,
        reason=f"is {len(PNG)} bytes, but {len(PNG) + 5}",
    )


def test_oversize_blob_is_rejected_when_the_limit_dropped(
    as_reporter, reporter, issue_of, *, container, engine, settings_env
) -> None:
    issue_id = issue_of(reporter)
    created = start_upload(as_reporter, issue_id, PNG)
    assert put_blob(created["upload"], PNG).status_code == 201
    settings_env(MAX_ATTACHMENT_BYTES="10")
    _rejects(
        as_reporter, issue_id, created, engine=engine, container=container, reason="the limit is 10 bytes"
    )


def test_wrong_magic_bytes_are_rejected(as_reporter, reporter, issue_of, container, engine) -> None:
    issue_id = issue_of(reporter)
    fake = b"<html><script>alert(1)</script></html>"
    created = start_upload(as_reporter, issue_id, fake, content_type="image/png", filename="cat.png")
    assert put_blob(created["upload"], fake).status_code == 201
    _rejects(
        as_reporter,
        issue_id,
        created,
        engine=engine,
        container=container,
        reason="does not look like a PNG image",
    )


def test_binary_posing_as_text_is_rejected(as_reporter, reporter, issue_of, container, engine) -> None:
    issue_id = issue_of(reporter)
    created = start_upload(as_reporter, issue_id, PNG, content_type="text/csv", filename="data.csv")
    assert put_blob(created["upload"], PNG).status_code == 201
    _rejects(as_reporter, issue_id, created, engine=engine, container=container, reason="not valid UTF-8")


def test_invalid_json_is_rejected(as_reporter, reporter, issue_of, container, engine) -> None:
    issue_id = issue_of(reporter)
    data = b'{"a": 1,'
    created = start_upload(as_reporter, issue_id, data, content_type="application/json", filename="x.json")
    assert put_blob(created["upload"], data).status_code == 201
    _rejects(as_reporter, issue_id, created, engine=engine, container=container, reason="not valid JSON")


def test_missing_upload_is_rejected(as_reporter, reporter, issue_of, container, engine) -> None:
    issue_id = issue_of(reporter)
    created = start_upload(as_reporter, issue_id, PNG)
    _rejects(
        as_reporter, issue_id, created, engine=engine, container=container, reason="No file was uploaded"
    )


def test_each_allowed_type_with_real_signatures_is_accepted(
    as_maintainer, reporter, issue_of, container
) -> None:
    from tests.attachments.conftest import upload_file

    issue_id = issue_of(reporter)
    samples = {
        "image/png": PNG,
        "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20,
        "image/gif": b"GIF89a" + b"\x01\x00\x01\x00" + b"\x00" * 10,
        "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20,
        "application/pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        "application/zip": b"PK\x05\x06" + b"\x00" * 18,
        "text/plain": "héllo wörld\n".encode(),
        "text/csv": b"a,b\n1,2\n",
        "application/json": b'{"ok": [1, 2, "\xc3\xa9"]}',
    }
    for ctype, data in samples.items():
        active = upload_file(as_maintainer, issue_id, data, content_type=ctype, filename="f")
        assert active["status"] == "ACTIVE", ctype


def test_filenames_are_sanitized(as_reporter, reporter, issue_of, container) -> None:
    issue_id = issue_of(reporter)
    cases = {
        "../../etc/passwd": "passwd",
        "..\\..\\windows\\win.ini": "win.ini",
        "a\r\nb.png": "ab.png",
        "quote\"d'name.png": "quotedname.png",
        "über 📄 résumé.pdf": "über 📄 résumé.pdf",
        "...": "file",
        "\u202egnp.exe": "gnp.exe",  # right-to-left override (a format character) is dropped
    }
    for raw, expected in cases.items():
        created = start_upload(as_reporter, issue_id, PNG, filename=raw)
        assert created["attachment"]["filename"] == expected, raw
        # The blob name never depends on the filename.
        assert (
            created["upload"]["url"]
            .split("?")[0]
            .endswith(f"issues/{issue_id}/{created['attachment']['id']}")
        )


def test_long_filename_keeps_its_extension() -> None:
    from trackly.attachments.service import MAX_FILENAME_CHARS, sanitize_filename

    name = sanitize_filename("x" * 5000 + ".png")
    assert len(name) == MAX_FILENAME_CHARS
    assert name.endswith(".png")


def test_unknown_attachment_is_404(as_reporter, reporter, issue_of, container) -> None:
    issue_id = issue_of(reporter)
    assert_problem(as_reporter.post(f"issues/{issue_id}/attachments/{uuid.uuid4()}/complete"), 404)


def test_a_blob_created_by_copy_is_rejected(as_reporter, reporter, issue_of, container, engine) -> None:
    """The create-only upload SAS also permits Copy Blob: a valid PNG copied from elsewhere (here
    another blob the uploader can read) must not become an attachment."""
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import BlobClient, BlobSasPermissions, generate_blob_sas

    source = container.get_blob_client("elsewhere/source.png")
    source.upload_blob(PNG, overwrite=True)
    read_sas = generate_blob_sas(
        account_name=container.account_name,
        container_name=container.container_name,
        blob_name="elsewhere/source.png",
        account_key=container.credential.account_key,
        permission=BlobSasPermissions(read=True),
        expiry=datetime.now(UTC) + timedelta(minutes=5),
    )
    issue_id = issue_of(reporter)
    created = start_upload(as_reporter, issue_id, PNG)
    # Azure accepts a copy through the create-only SAS; Azurite refuses it, so the copy is made
    # with the account key into exactly the blob the SAS names.
    target = container.get_blob_client(BlobClient.from_blob_url(created["upload"]["url"]).blob_name)
    target.start_copy_from_url(f"{source.url}?{read_sas}")
    assert target.get_blob_properties().copy.source  # Azurite recorded x-ms-copy-source
    _rejects(as_reporter, issue_id, created, engine=engine, container=container, reason="copied")


# Strict JSON types (issue 16, item 8): no coercion into an integer field.


@pytest.mark.parametrize("value", ["5", True, 0.5])
def test_an_integer_field_takes_only_a_json_integer(as_reporter, value, storage_env) -> None:
    issue = as_reporter.post("issues", {"title": "with a file"}).json()
    resp = as_reporter.post(
        f"issues/{issue['id']}/attachments",
        {"filename": "a.png", "content_type": "image/png", "size_bytes": value},
    )
    problem = assert_problem(resp, 422)
    assert any(e["loc"] == "body.size_bytes" for e in problem["errors"]), problem


def test_an_integral_float_is_an_integer_as_json_schema_says(as_reporter, storage_env) -> None:
    issue = as_reporter.post("issues", {"title": "with a file"}).json()
    resp = as_reporter.post(
        f"issues/{issue['id']}/attachments",
        {"filename": "a.png", "content_type": "image/png", "size_bytes": 68.0},
    )
    assert resp.status_code == 201, resp.text
