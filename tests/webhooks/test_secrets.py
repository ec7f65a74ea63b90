"""Secrets at rest: the key setting's rules, production without a key, a key change."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api
from tests.support.receiver import Receiver
from tests.webhooks.conftest import TEST_KEY, create_hook, make_issue, run_timer
from tests.webhooks.test_targets import PRODUCTION


def test_a_short_key_is_refused_without_echoing_it(settings_env: Any) -> None:
    from trackly.config import SettingsError, get_settings

    settings_env(TRACKLY_ENV="development", WEBHOOK_SECRET_KEY=f"{TEST_KEY},too-short-key-7d2f")
    with pytest.raises(SettingsError) as caught:
        get_settings()
    assert "WEBHOOK_SECRET_KEY" in str(caught.value) and "32 bytes" in str(caught.value)
    assert "too-short-key-7d2f" not in str(caught.value)


def test_production_without_a_key_refuses_webhooks(as_admin: Api, settings_env: Any) -> None:
    settings_env(**{**PRODUCTION, "WEBHOOK_SECRET_KEY": None})
    resp = as_admin.post("webhooks", json={"url": "https://hooks.example.com/x", "events": ["*"]})
    assert resp.status_code == 503, resp.text
    assert "WEBHOOK_SECRET_KEY" in resp.json()["detail"]


def test_a_key_change_keeps_old_secrets_readable(
    as_admin: Api, receiver: Receiver, local_targets: Any
) -> None:
    from standardwebhooks.webhooks import Webhook as Verifier

    hook = create_hook(as_admin, receiver.url())
    local_targets(WEBHOOK_SECRET_KEY=f"a-brand-new-webhook-key-0123456789abcdef,{TEST_KEY}")
    make_issue(as_admin)
    assert run_timer().succeeded == 1
    Verifier(hook["secret"]).verify(receiver.requests[0].body, receiver.requests[0].headers)


def test_a_key_that_cannot_decrypt_holds_only_that_hook(
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine
) -> None:
    create_hook(as_admin, receiver.url())
    with engine.begin() as conn:
        conn.execute(text("UPDATE webhooks SET secret_encrypted = 'not-a-fernet-token'"))
    second = create_hook(as_admin, receiver.url(path="/second"))
    make_issue(as_admin)
    run = run_timer()
    assert run.succeeded == 1
    assert [r.path for r in receiver.requests] == ["/second"]
    assert as_admin.get(f"webhooks/{second['id']}/deliveries").json()["items"][0]["status"] == "succeeded"
    with engine.connect() as conn:
        waiting = conn.execute(
            text("SELECT attempts, next_attempt_at > now() FROM webhook_deliveries WHERE status = 'pending'")
        ).one()
    assert tuple(waiting) == (0, True)
