"""GET /issues/export: the list's filters and visibility, RFC 4180 CSV with formula escaping,
NDJSON, the row limit, and a CSV that imports back."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from tests.portability.conftest import finish_import, import_via_multipart
from tests.support.api import Api, assert_problem

DANGEROUS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tTab", "\rCR"]


def rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="trackly-issues-')
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))


def test_a_reporter_exports_only_their_own_issues(
    as_reporter: Api, as_other_reporter: Api, reporter: Any
) -> None:
    for n in range(3):
        assert as_reporter.post("issues", json={"title": f"Mine {n}"}).status_code == 201
        assert as_other_reporter.post("issues", json={"title": f"Theirs {n}"}).status_code == 201
    for fmt in ("csv", "ndjson"):
        response = as_reporter.get("issues/export", params={"format": fmt})
        assert response.status_code == 200
        if fmt == "csv":
            found = rows(response)
        else:
            assert response.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
            found = [json.loads(line) for line in response.text.splitlines()]
        assert sorted(r["title"] for r in found) == ["Mine 0", "Mine 1", "Mine 2"]
        assert {r["reporter_email"] for r in found} == {reporter.email}
    # Filtering on another reporter cannot widen it either.
    other = as_other_reporter.get("auth/me").json()["id"]
    assert rows(as_reporter.get("issues/export", params={"created_by": other})) == []


def test_same_filters_search_and_sort_as_the_list(as_reporter: Api, as_maintainer: Api) -> None:
    titles = ["Printer jams", "Printer smokes", "Login fails"]
    ids = [as_reporter.post("issues", json={"title": t, "severity": "HIGH"}).json()["id"] for t in titles]
    as_maintainer.patch(f"issues/{ids[1]}", json={"status": "DONE"})
    for query in ({"q": "printer"}, {"status": "DONE"}, {"sort": "created_at"}, {"sort": "-created_at"}):
        listed = [i["title"] for i in as_maintainer.get("issues", params={**query, "limit": 100}).json()]
        exported = [r["title"] for r in rows(as_maintainer.get("issues/export", params=query))]
        assert exported == listed, query
    assert_problem(as_maintainer.get("issues/export", params={"format": "xml"}), 422)


def test_csv_is_rfc4180_and_formula_cells_are_escaped(as_reporter: Api, as_maintainer: Api) -> None:
    for n, value in enumerate(DANGEROUS):
        response = as_reporter.post(
            "issues", json={"title": f"Case {n} {value.strip()}", "description": value}
        )
        assert response.status_code == 201, response.text
    as_reporter.post("issues", json={"title": 'Quote " and, comma', "description": "two\nlines"})
    response = as_maintainer.get("issues/export", params={"sort": "created_at"})
    raw = response.content.decode("utf-8")
    assert raw.startswith('"id","title","description"')
    assert "\r\n" in raw  # CRLF record ends
    found = rows(response)
    assert [r["description"] for r in found[: len(DANGEROUS)]] == ["'" + v for v in DANGEROUS]
    assert found[-1]["title"] == 'Quote " and, comma' and found[-1]["description"] == "two\nlines"
    assert '"Quote "" and, comma"' in raw


def test_over_the_row_limit_answers_413_pointing_to_the_full_export(
    as_reporter: Api, settings_env: Callable[..., None]
) -> None:
    settings_env(EXPORT_MAX_ROWS="2")
    for n in range(3):
        as_reporter.post("issues", json={"title": f"T{n}"})
    body = assert_problem(as_reporter.get("issues/export"), 413, "POST /api/exports")
    assert body["full_export"] == "/api/exports" and body["max_rows"] == 2
    assert len(rows(as_reporter.get("issues/export", params={"q": "T1"}))) == 1


def test_an_exported_csv_imports_back_as_the_same_list(
    storage_env: str, as_admin: Api, as_reporter: Api, as_maintainer: Api, maintainer: Any
) -> None:
    label = as_admin.post("labels", json={"name": "ui", "color": "#0e8a16"}).json()["id"]
    for title in ["=HYPERLINK()", "Plain"]:
        issue = as_reporter.post(
            "issues", json={"title": title, "description": "- item", "severity": "LOW"}
        ).json()
        as_maintainer.patch(
            f"issues/{issue['id']}", json={"status": "IN_PROGRESS", "assignee_id": str(maintainer.id)}
        )
        as_maintainer.put(f"issues/{issue['id']}/labels/{label}")
    exported = as_admin.get("issues/export")
    before = rows(exported)
    # Delete the originals, import the file: the list is the same again (ids excepted).
    for issue in as_admin.get("issues").json():
        assert as_admin.delete(f"issues/{issue['id']}").status_code == 200
    job = finish_import(as_admin, import_via_multipart(as_admin, "csv", exported.content))
    assert job["counts"]["created"] == 2, job
    after = rows(as_admin.get("issues/export"))
    keep = [c for c in before[0] if c not in ("id", "updated_at")]
    assert [{c: r[c] for c in keep} for r in after] == [{c: r[c] for c in keep} for r in before]
