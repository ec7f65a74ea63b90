"""Helpers for the issue tests: fast bulk inserts straight into PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine


def bulk_issues(
    engine: Engine,
    owner_id: uuid.UUID,
    n: int,
    *,
    start: datetime | None = None,
    title: str = "Bulk issue",
    every_nth_owner: tuple[int, uuid.UUID] | None = None,
) -> None:
    """Insert `n` issues with one INSERT ... SELECT generate_series (distinct created_at values,
    one second apart, newest last). With every_nth_owner=(k, other), every k-th row belongs to `other`."""
    params: dict[str, Any] = {"owner": owner_id, "n": n, "title": title, "start": start}
    other = "CASE WHEN :k > 0 AND g % :k = 0 THEN CAST(:other AS uuid) ELSE CAST(:owner AS uuid) END"
    params["k"], params["other"] = every_nth_owner if every_nth_owner else (0, owner_id)
    with engine.begin() as conn:
        conn.execute(
            text(
                f"""
                INSERT INTO issues (id, title, description, severity, status, created_by, updated_by,
                                    version, created_at, updated_at)
                SELECT gen_random_uuid(), :title || ' ' || g, 'Generated row ' || g,
                       (ARRAY['LOW','MEDIUM','HIGH','CRITICAL'])[1 + g % 4],
                       (ARRAY['OPEN','TRIAGED','IN_PROGRESS','DONE'])[1 + (g / 4) % 4],
                       {other}, {other}, 1,
                       COALESCE(CAST(:start AS timestamptz), now() - interval '1 day')
                           + g * interval '1 second',
                       COALESCE(CAST(:start AS timestamptz), now() - interval '1 day')
                           + g * interval '1 second'
                FROM generate_series(1, :n) AS g
                """  # noqa: S608 - fixed SQL, parameters bound
            ),
            params,
        )


def new_issue(api: Any, **fields: Any) -> dict[str, Any]:
    body = {"title": "Printer on fire", "description": "It is *on fire*.", **fields}
    response = api.post("issues", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def events(engine: Engine, issue_id: Any = None) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        sql = "SELECT id, type, issue_id, actor_id, audience_owner_id, payload FROM events"
        if issue_id is not None:
            rows = conn.execute(text(sql + " WHERE issue_id = :i ORDER BY id"), {"i": str(issue_id)})
        else:
            rows = conn.execute(text(sql + " ORDER BY id"))
        return [dict(r._mapping) for r in rows]
