"""function_app.py under Microsoft's Python worker code, not only under the local host.

`azure-functions-runtime` indexes the app exactly as the worker does on Azure (import, find the
FunctionApp, validate bindings and annotations, build the metadata the host registers), then
invokes HTTP functions through its RpcHttp <-> HttpRequest/HttpResponse conversion. Each answer is
compared with what the local host serves for the same request, so a difference between the two
hosts fails here. The database (PostgreSQL) and Blob Storage (Azurite) are the real ones.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import function_app
from tests.attachments.conftest import container, storage_env, upload_file  # noqa: F401 (fixtures)
from tests.issues.helpers import new_issue
from tests.support.api import Api
from tests.worker import protos
from tests.worker.harness import Worker
from trackly.config import Settings
from trackly.http.endpoint import REGISTRY
from trackly.http.router import discover, indexed_functions

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://localhost:5173"


@pytest.fixture(scope="module")
def worker(database_url: str) -> Iterator[Worker]:
    """One worker that indexed function_app.py.

    `FunctionApp.get_functions()` can run once per app object (its builders are consumed), and the
    local host in this process may have called it already: the worker is handed that same list
    (trackly.http.router.indexed_functions), which is what a fresh call would have built."""
    app = function_app.app
    indexed = indexed_functions(app)  # the one real get_functions() call of this process
    real = app.get_functions
    app.get_functions = lambda: indexed  # type: ignore[method-assign]
    try:
        started = Worker()
    finally:
        app.get_functions = real  # type: ignore[method-assign]
    yield started
    started.close()


def _auth(users: Any, user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {users.token(user)}"}


# --- indexing --------------------------------------------------------------------------------------


def test_the_worker_indexes_every_function_with_valid_bindings(worker: Worker) -> None:
    assert worker.init_response.result.status == protos.StatusResult.Success, (
        worker.init_response.result.exception.message
    )
    assert worker.metadata_response.result.status == protos.StatusResult.Success
    assert worker.metadata_response.use_default_metadata_indexing is False  # the worker indexed it
    http, timers = discover(function_app.app)
    assert set(worker.metadata) == {f.name for f in http} | {t.name for t in timers}
    assert set(REGISTRY) <= set(worker.metadata)  # every declared endpoint is a function
    for name, meta in worker.metadata.items():
        assert meta.language == "python" and meta.properties["worker_indexed"] == "True", name
        assert meta.script_file.endswith("function_app.py") and meta.function_id, name
        bindings = worker.raw_bindings(name)
        trigger = bindings[0]
        if trigger["type"] == "httpTrigger":
            assert trigger["authLevel"] == "ANONYMOUS", name  # the app authorizes; no function keys
            assert trigger["route"] and len(trigger["methods"]) == 1, name
            assert bindings[1] == {"name": "$return", "type": "http", "direction": "OUT"}, name
            assert set(meta.bindings) == {"req", "$return"}
            assert meta.bindings["req"].direction == protos.BindingInfo.in_
            assert meta.bindings["$return"].direction == protos.BindingInfo.out
        else:
            assert trigger["type"] == "timerTrigger", name
            assert len(bindings) == 1, name


def test_timer_schedules_are_app_setting_expressions(worker: Worker) -> None:
    bicep = (ROOT / "infra" / "modules" / "functionapp.bicep").read_text()
    schedules = {}
    for name in worker.metadata:
        trigger = worker.raw_bindings(name)[0]
        if trigger["type"] != "timerTrigger":
            continue
        match = re.fullmatch(r"%([A-Z_]+)%", trigger["schedule"])
        assert match, f"{name}: schedule {trigger['schedule']!r} is not a %SETTING% expression"
        setting = match.group(1)
        assert setting in Settings.model_fields, setting
        assert re.search(rf"^\s*{setting}: '[^']+'$", bicep, re.M), f"{setting} is not set in Bicep"
        schedules[name] = setting
    assert len(schedules) >= 3  # outbox, attachment cleanup, statistics


# --- invocation through the worker's HTTP conversion --------------------------------------------------


def _same_as_local_host(
    api: Api, path: str, worker_response: Any, headers: dict[str, str] | None = None
) -> None:
    local = requests.get(api.url(path), headers=headers or {}, timeout=30)
    assert local.status_code == worker_response.status, path
    assert local.headers.get("Content-Type") == worker_response.headers.get("content-type"), path
    if "etag" in worker_response.headers:
        assert local.headers["ETag"] == worker_response.headers["etag"]


def test_json_list_with_total_link_and_repeated_query_keys(
    worker: Worker, api: Api, users: Any, maintainer: Any, as_maintainer: Api
) -> None:
    made = [new_issue(as_maintainer, title=f"Worker {n}") for n in range(3)]
    as_maintainer.put(f"issues/{made[0]['id']}", json={"status": "DONE"})
    auth = _auth(users, maintainer)
    r = worker.http("list_issues", "GET", "issues?limit=1", headers=auth)
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    assert len(r.json()) == 1 and r.headers["x-total-count"] == "3"
    assert (
        r.headers["link"].startswith("<https://trackly.azurewebsites.net/api/issues?")
        and 'rel="next"' in r.headers["link"]
    )
    # Repeated keys: the host's query map joins them, the URL keeps both; both statuses count.
    r = worker.http("list_issues", "GET", "issues?status=OPEN&status=DONE&limit=50", headers=auth)
    assert r.status == 200 and r.headers["x-total-count"] == "3"
    assert {i["status"] for i in r.json()} == {"OPEN", "DONE"}
    r = worker.http("list_issues", "GET", "issues?status=DONE", headers=auth)
    assert [i["id"] for i in r.json()] == [made[0]["id"]]
    _same_as_local_host(
        api, "issues?limit=1", worker.http("list_issues", "GET", "issues?limit=1", headers=auth), auth
    )


def test_etag_and_304_carry_the_json_content_type(
    worker: Worker, api: Api, users: Any, maintainer: Any, as_maintainer: Api
) -> None:
    issue = new_issue(as_maintainer)
    auth = _auth(users, maintainer)
    route = {"issue_id": issue["id"]}
    r = worker.http("get_issue", "GET", f"issues/{issue['id']}", route_params=route, headers=auth)
    assert r.status == 200 and r.json()["id"] == issue["id"]
    etag = r.headers["etag"]
    r = worker.http(
        "get_issue",
        "GET",
        f"issues/{issue['id']}",
        route_params=route,
        headers={**auth, "If-None-Match": etag},
    )
    assert r.status == 304 and r.body == b""
    # Without our explicit type the worker would send `text/plain; charset=utf-8` here.
    assert r.headers["content-type"] == "application/json" and r.headers["etag"] == etag
    _same_as_local_host(api, f"issues/{issue['id']}", r, {**auth, "If-None-Match": etag})


def test_problem_json_answers(worker: Worker, users: Any, maintainer: Any) -> None:
    r = worker.http("list_issues", "GET", "issues")
    assert r.status == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer") and r.json()["status"] == 401
    missing = str(uuid.uuid4())
    r = worker.http(
        "get_issue",
        "GET",
        f"issues/{missing}",
        route_params={"issue_id": missing},
        headers=_auth(users, maintainer),
    )
    assert r.status == 404 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 404 and isinstance(body["detail"], str) and "request_id" in body
    r = worker.http(
        "create_issue",
        "POST",
        "issues",
        headers={**_auth(users, maintainer), "Content-Type": "application/json"},
        body=b"{not json",
    )
    assert r.status == 400 and r.headers["content-type"] == "application/problem+json"
    assert "not valid JSON" in r.json()["detail"]


def test_created_answer_with_location_and_exposed_headers_for_the_front_end(
    worker: Worker, users: Any, maintainer: Any, settings_env: Any
) -> None:
    settings_env(TRACKLY_ALLOWED_ORIGINS=ORIGIN)
    body = json.dumps({"title": "From the worker", "description": "d"}).encode()
    headers = {**_auth(users, maintainer), "Content-Type": "application/json", "Origin": ORIGIN}
    r = worker.http("create_issue", "POST", "issues", headers=headers, body=body)
    assert r.status == 201 and r.json()["title"] == "From the worker"
    assert r.headers["location"].endswith(f"/api/issues/{r.json()['id']}")
    exposed = {h.strip() for h in r.headers["access-control-expose-headers"].split(",")}
    assert {"ETag", "Location", "Link", "X-Total-Count", "Retry-After", "X-Request-Id"} <= exposed


def test_binary_and_html_bodies_pass_unchanged(worker: Worker, api: Api) -> None:
    name = "swagger-ui-bundle.js"
    r = worker.http("docs_asset", "GET", f"docs/assets/{name}", route_params={"name": name})
    local = requests.get(api.url(f"docs/assets/{name}"), timeout=30)
    assert r.status == 200 and len(r.body) > 100_000
    assert r.body == local.content and r.headers["content-type"] == local.headers["Content-Type"]
    r = worker.http("swagger_ui", "GET", "docs")
    assert r.status == 200 and r.headers["content-type"].startswith("text/html") and b"swagger-ui" in r.body
    r = worker.http("openapi_document", "GET", "openapi.json")
    assert r.json()["openapi"].startswith("3.1")
    assert r.body == requests.get(api.url("openapi.json"), timeout=30).content


@pytest.mark.usefixtures("container")
def test_redirect_to_the_file(worker: Worker, users: Any, maintainer: Any, as_maintainer: Api) -> None:
    issue = new_issue(as_maintainer)
    attachment = upload_file(as_maintainer, uuid.UUID(issue["id"]))
    route = {"issue_id": issue["id"], "attachment_id": attachment["id"]}
    path = f"issues/{issue['id']}/attachments/{attachment['id']}/download"
    r = worker.http("download_attachment", "GET", path, route_params=route, headers=_auth(users, maintainer))
    assert r.status == 302 and r.body == b""
    assert r.headers["location"].startswith("http") and "sig=" in r.headers["location"]
    assert r.headers["cache-control"] == "no-store"
    assert requests.get(r.headers["location"], timeout=10).status_code == 200  # the SAS URL works


def test_a_function_that_raises_is_still_a_problem_document(worker: Worker, settings_env: Any) -> None:
    """Configuration errors surface as the app's 503, not as a worker failure (which the host
    would turn into a bare 500)."""
    settings_env(
        JWT_SECRET_KEY="@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/jwt)",
        TRACKLY_ENV="production",
    )
    r = worker.http("health", "GET", "health")
    assert r.status == 503 and r.headers["content-type"] == "application/problem+json"


def test_a_missing_worker_package_fails_loudly_instead_of_skipping() -> None:
    import subprocess
    import sys

    code = "import sys; sys.modules['azure_functions_runtime'] = None; import tests.worker.harness"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert (
        "azure-functions-runtime is not installed" in done.stderr and "requirements-worker.txt" in done.stderr
    )
