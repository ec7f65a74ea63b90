"""Helpers for the email tests: one timer run, delivery rows, settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api
from trackly.config import get_settings
from trackly.email import sender


def run_timer() -> sender.EmailRun:
    """One run of the send_notifications timer, as the Functions host would start it."""
    return sender.run(settings=get_settings())


def deliveries(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.notification_id, d.status, d.detail, d.attempts, n.user_id, n.reason"
                " FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id"
                " ORDER BY d.notification_id"
            )
        )
        return [dict(r._mapping) for r in rows]


def choose(api: Api, **values: Any) -> dict[str, Any]:
    body = {
        "email": "instant",
        "reasons": ["commented", "status_changed", "assigned", "mentioned", "watching"],
        "time_zone": "UTC",
        "digest_hour": 8,
        "quiet_hours": None,
        **values,
    }
    response = api.put("users/me/notification-settings", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data
