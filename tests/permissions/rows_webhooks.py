"""Permission rows for webhooks: every function is ADMIN only (a hook receives every event).

The hook points at 127.0.0.1:9 (nothing listens there): creating it needs private targets allowed,
and a ping answers 200 with a failed attempt, without sending anything anywhere else.
"""

from __future__ import annotations

from sqlalchemy import text

from tests.permissions.framework import Ctx, Prepared, Row, expect

ADMIN_ONLY = expect(anonymous=401, reporter=403, maintainer=403, admin=200)
LOCAL = {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}
URL = "http://127.0.0.1:9/hook"


def _hook(ctx: Ctx) -> str:
    response = ctx.api_as(ctx.admin).post("webhooks", json={"url": URL, "events": ["*"]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _with_hook(ctx: Ctx) -> Prepared:
    return Prepared(path={"webhook_id": _hook(ctx)})


def _with_delivery(ctx: Ctx) -> Prepared:
    hook_id = _hook(ctx)
    response = ctx.api_as(ctx.reporter).post("issues", json={"title": "Target", "description": "D"})
    assert response.status_code == 201, response.text
    with ctx.engine.connect() as conn:
        delivery_id = conn.execute(
            text("SELECT id FROM webhook_deliveries WHERE webhook_id = :h"), {"h": hook_id}
        ).scalar_one()
    return Prepared(path={"webhook_id": hook_id, "delivery_id": str(delivery_id)})


ROWS = [
    Row(
        "create_webhook",
        expect(anonymous=401, reporter=403, maintainer=403, admin=201),
        json={"url": URL, "events": ["issue_created"]},
        settings=LOCAL,
    ),
    Row("list_webhooks", ADMIN_ONLY, setup=_with_hook, settings=LOCAL),
    Row("get_webhook", ADMIN_ONLY, setup=_with_hook, settings=LOCAL),
    Row(
        "get_webhook",
        expect(anonymous=401, reporter=403, maintainer=403, admin=404),
        variant="missing",
    ),
    Row("update_webhook", ADMIN_ONLY, setup=_with_hook, json={"description": "changed"}, settings=LOCAL),
    Row("delete_webhook", ADMIN_ONLY, setup=_with_hook, settings=LOCAL),
    Row("rotate_webhook_secret", ADMIN_ONLY, setup=_with_hook, settings=LOCAL),
    Row("ping_webhook", ADMIN_ONLY, setup=_with_hook, settings=LOCAL),
    Row("list_webhook_deliveries", ADMIN_ONLY, setup=_with_delivery, settings=LOCAL),
    Row("get_webhook_delivery", ADMIN_ONLY, setup=_with_delivery, settings=LOCAL),
    Row(
        "redeliver_webhook_delivery",
        expect(anonymous=401, reporter=403, maintainer=403, admin=202),
        setup=_with_delivery,
        settings=LOCAL,
    ),
]
