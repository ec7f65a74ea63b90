"""Attachments tests run against a real Azurite (tests/support/azurite.py) and real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.support.api import Api

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


@pytest.fixture
def storage_env(azurite: str, settings_env: Callable[..., None]) -> Iterator[str]:
    """Point the app at the session's Azurite; cached blob clients are rebuilt around the test."""
    from trackly.attachments import storage

    storage.reset_clients()
    settings_env(AZURE_STORAGE_CONNECTION_STRING=azurite, AZURE_STORAGE_CONTAINER_NAME="issue-files")
    _empty_container(azurite, "issue-files")  # the database is emptied per test; so is storage
    yield azurite
    storage.reset_clients()


def _empty_container(connection_string: str, name: str) -> None:
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(connection_string) as service:
        client = service.get_container_client(name)
        if client.exists():
            for blob in client.list_blobs():
                client.delete_blob(blob.name)


@pytest.fixture
def container(storage_env: str) -> Any:
    """A ContainerClient on the app's container, for looking at blobs directly."""
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(storage_env)
    client = service.get_container_client("issue-files")
    if not client.exists():
        client.create_container()
    return client


def make_issue(engine: Engine, owner: Any, title: str = "Printer on fire") -> uuid.UUID:
    from trackly.models import Issue, Severity, Status

    with Session(engine) as session:
        issue = Issue(
            title=title, description="", severity=Severity.HIGH, status=Status.OPEN, created_by=owner.id
        )
        session.add(issue)
        session.commit()
        return issue.id


@pytest.fixture
def issue_of(engine: Engine) -> Callable[[Any], uuid.UUID]:
    return lambda owner: make_issue(engine, owner)


def start_upload(
    client: Api,
    issue_id: uuid.UUID,
    data: bytes,
    *,
    content_type: str = "image/png",
    filename: str = "shot.png",
    size: int | None = None,
) -> dict[str, Any]:
    resp = client.post(
        f"issues/{issue_id}/attachments",
        json={
            "filename": filename,
            "content_type": content_type,
            "size_bytes": len(data) if size is None else size,
        },
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def put_blob(upload: dict[str, Any], data: bytes, **headers: str) -> requests.Response:
    """What a browser does with the upload instructions."""
    return requests.put(upload["url"], data=data, headers={**upload["headers"], **headers}, timeout=10)


def upload_file(
    client: Api,
    issue_id: uuid.UUID,
    data: bytes = PNG,
    *,
    content_type: str = "image/png",
    filename: str = "shot.png",
) -> dict[str, Any]:
    """Create, PUT and complete; returns the ACTIVE attachment."""
    created = start_upload(client, issue_id, data, content_type=content_type, filename=filename)
    assert put_blob(created["upload"], data).status_code == 201
    done = client.post(f"issues/{issue_id}/attachments/{created['attachment']['id']}/complete")
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result
