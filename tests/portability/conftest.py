"""Export and import tests: real PostgreSQL, real Azurite, the local host over HTTP, and the
timers run in-process (their job functions called the way the Functions host calls them)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.support.api import Api

CONTAINER = "issue-files"


@pytest.fixture
def storage_env(azurite: str, settings_env: Callable[..., None]) -> Iterator[str]:
    from trackly.attachments import storage

    storage.reset_clients()
    settings_env(AZURE_STORAGE_CONNECTION_STRING=azurite, AZURE_STORAGE_CONTAINER_NAME=CONTAINER)
    _empty_container(azurite)
    yield azurite
    storage.reset_clients()


def _empty_container(connection_string: str) -> None:
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(connection_string) as service:
        client = service.get_container_client(CONTAINER)
        if client.exists():
            for blob in client.list_blobs():
                client.delete_blob(blob.name)


def run_timer(name: str) -> None:
    """One firing of a timer function, through the same entry point the host calls."""
    import function_app  # noqa: F401 (registers the timers)
    from trackly.api import portability
    from trackly.http.timers import execute

    job = {"run_exports": portability.run_exports, "run_imports": portability.run_imports}[name]
    execute(name, job)


def wait_for_job(api: Api, path: str, timer: str, *, max_runs: int = 50) -> dict[str, Any]:
    """Fire the job's timer until the job is finished (bounded by runs, not by time)."""
    for _ in range(max_runs):
        body = api.get(path).json()
        if body["status"] in ("done", "failed", "cancelled"):
            return dict(body)
        run_timer(timer)
    raise AssertionError(f"{path} did not finish within {max_runs} timer runs: {body}")


def import_via_multipart(
    api: Api, source: str, data: bytes, *, dry_run: bool = False, mapping: dict[str, Any] | None = None
) -> dict[str, Any]:
    fields: dict[str, Any] = {"source": (None, source), "dry_run": (None, "true" if dry_run else "false")}
    if mapping is not None:
        fields["mapping"] = (None, json.dumps(mapping))
    fields["file"] = ("data", data, "application/octet-stream")
    response = api.post("imports/upload", files=fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


def import_via_sas(api: Api, source: str, data: bytes, *, dry_run: bool = False) -> dict[str, Any]:
    created = api.post("imports", json={"source": source, "dry_run": dry_run})
    assert created.status_code == 201, created.text
    upload = created.json()["upload"]
    put = requests.put(upload["url"], data=data, headers=upload["headers"], timeout=30)
    assert put.status_code == 201, put.text
    started = api.post(f"imports/{created.json()['id']}/start")
    assert started.status_code == 200, started.text
    return dict(started.json())


def finish_import(api: Api, job: dict[str, Any]) -> dict[str, Any]:
    return wait_for_job(api, f"imports/{job['id']}?limit=1000", "run_imports")


def all_results(api: Api, job_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        body = api.get(f"imports/{job_id}", params={"after_row": after, "limit": 1000}).json()
        out.extend(body["results"])
        if body["next_after_row"] is None:
            return out
        after = body["next_after_row"]
