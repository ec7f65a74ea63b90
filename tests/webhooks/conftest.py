"""Fixtures for webhooks: a local receiver on 127.0.0.1 and the app allowed to reach it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.receiver import Receiver, receiving

# The same key in every setting a test switches to (production needs one).
TEST_KEY = "production-like-webhook-key-for-tests-0123456789"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


@pytest.fixture
def local_targets(settings_env: Callable[..., None]) -> Callable[..., None]:
    """Private targets allowed (the receiver is on loopback), as in development."""
    settings_env(WEBHOOK_ALLOW_PRIVATE_TARGETS="true", WEBHOOK_SECRET_KEY=TEST_KEY)
    return settings_env


def create_hook(api: Api, url: str, events: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    resp = api.post("webhooks", json={"url": url, "events": events or ["*"], **extra})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def run_timer() -> Any:
    """One run of the delivery timer's work, as the timer runs it."""
    from trackly.config import get_settings
    from trackly.webhooks import delivery

    return delivery.run(settings=get_settings())


def make_issue(api: Api, title: str = "Printer on fire") -> dict[str, Any]:
    resp = api.post("issues", json={"title": title, "description": "Smoke"})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())
