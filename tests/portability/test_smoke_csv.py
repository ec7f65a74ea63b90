from __future__ import annotations

from typing import Any

from tests.portability.conftest import finish_import, import_via_multipart
from tests.support.api import Api


def test_csv_round_trip(storage_env: str, as_admin: Api, as_reporter: Api, reporter: Any) -> None:
    r = as_reporter.post("issues", json={"title": "=SUM(A1)", "description": "a,b\n\"c\"", "severity": "HIGH"})
    assert r.status_code == 201, r.text
    export = as_admin.get("issues/export", params={"format": "csv"})
    assert export.status_code == 200, export.text
    print(export.text)
    job = import_via_multipart(as_admin, "csv", export.content)
    done = finish_import(as_admin, job)
    print(done)
    assert done["status"] == "done"
