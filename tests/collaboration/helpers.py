"""Small helpers for the collaboration tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api


def label(api: Api, name: str, color: str = "#d73a4a") -> dict[str, Any]:
    response = api.post("labels", json={"name": name, "color": color})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def comment(api: Api, issue_id: str, body: str = "Seen it too.") -> dict[str, Any]:
    response = api.post(f"issues/{issue_id}/comments", json={"body": body})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def event_types(engine: Engine, issue_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT type FROM events WHERE issue_id = :i ORDER BY id"), {"i": issue_id}
            ).scalars()
        )


def watcher_ids(engine: Engine, issue_id: str) -> set[Any]:
    with engine.connect() as conn:
        return set(
            conn.execute(text("SELECT user_id FROM watchers WHERE issue_id = :i"), {"i": issue_id}).scalars()
        )
