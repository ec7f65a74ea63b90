"""Permission rows for export and import: the quick export is everyone's (their own issues);
the full export and every import are ADMIN only."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.permissions.framework import Ctx, Prepared, Row, expect

SIGNED_IN = expect(anonymous=401, reporter=200, maintainer=200, admin=200)
ADMIN_ONLY = expect(anonymous=401, reporter=403, maintainer=403, admin=200)
ADMIN_CREATES = expect(anonymous=401, reporter=403, maintainer=403, admin=201)
ADMIN_ACCEPTS = expect(anonymous=401, reporter=403, maintainer=403, admin=202)
MISSING_FOR_ADMIN = expect(anonymous=401, reporter=403, maintainer=403, admin=404)
STORAGE = ("attachment_storage",)
CSV = b"title,reporter_email\nHello,someone@example.com\n"


def _export(ctx: Ctx) -> Prepared:
    response = ctx.api_as(ctx.admin).post("exports", json={})
    assert response.status_code == 202, response.text
    return Prepared(path={"export_id": response.json()["id"]})


def _import(status: str) -> object:
    def setup(ctx: Ctx) -> Prepared:
        job_id = uuid.uuid4()
        with ctx.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO import_jobs (id, requested_by, source, status, dry_run, blob_name)"
                    " VALUES (:id, :by, 'csv', :status, false, :blob)"
                ),
                {"id": job_id, "by": ctx.admin.id, "status": status, "blob": f"imports/{job_id}"},
            )
        return Prepared(path={"import_id": str(job_id)})

    return setup


def _uploaded_import(ctx: Ctx) -> Prepared:
    import requests

    created = ctx.api_as(ctx.admin).post("imports", json={"source": "csv"})
    assert created.status_code == 201, created.text
    upload = created.json()["upload"]
    assert requests.put(upload["url"], data=CSV, headers=upload["headers"], timeout=30).status_code == 201
    return Prepared(path={"import_id": created.json()["id"]})


ROWS = [
    Row("export_issues", SIGNED_IN, query={"format": "csv"}),
    Row("export_issues", SIGNED_IN, query={"format": "ndjson"}, variant="ndjson"),
    Row("start_export", ADMIN_ACCEPTS, json={"include_files": False}, fixtures=STORAGE),
    Row("get_export", ADMIN_ONLY, setup=_export, fixtures=STORAGE),
    Row("get_export", MISSING_FOR_ADMIN, variant="missing", fixtures=STORAGE),
    Row("cancel_export", ADMIN_ONLY, setup=_export, fixtures=STORAGE),
    Row("create_import", ADMIN_CREATES, json={"source": "csv", "dry_run": True}, fixtures=STORAGE),
    Row(
        "upload_import",
        ADMIN_CREATES,
        files={"source": (None, "csv"), "file": ("issues.csv", CSV, "text/csv")},
        fixtures=STORAGE,
    ),
    Row("start_import", ADMIN_ONLY, setup=_uploaded_import, fixtures=STORAGE),
    Row("get_import", ADMIN_ONLY, setup=_import("running")),
    Row("get_import", MISSING_FOR_ADMIN, variant="missing"),
    Row("cancel_import", ADMIN_ONLY, setup=_import("queued")),
]
