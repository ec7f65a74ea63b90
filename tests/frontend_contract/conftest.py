"""The contract suite runs against the local host (the `live_server` fixture: function_app.py
served over real HTTP), real PostgreSQL with the demo data, and real Azurite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.attachments.conftest import storage_env  # noqa: F401 (fixture)
from tests.frontend_contract.client import OriginalClient


@pytest.fixture
def demo(engine: Engine, storage_env: str, settings_env: Callable[..., None]) -> None:  # noqa: F811
    """What a newcomer's `make run` holds a minute after starting: the demo users and sample
    issues, and the statistics timer's first run; refresh tokens that do not rotate (the client
    keeps the first one)."""
    from trackly.config import get_settings
    from trackly.local.demo import seed
    from trackly.stats import service as stats

    settings_env(REFRESH_TOKEN_ROTATION="false")
    with Session(engine) as session:
        seed(session=session)
        session.commit()
        assert stats.run_scheduled(session=session, settings=get_settings()).acquired
        session.commit()


@pytest.fixture
def client(live_server: str, demo: None) -> Callable[..., OriginalClient]:
    def signed_in(email: str, password: str) -> OriginalClient:
        c = OriginalClient(live_server)
        c.login(email, password)
        return c

    return signed_in


ADMIN = ("admin@trackly.com", "admin123")
MAINTAINER = ("maintainer@trackly.com", "maintainer123")
REPORTER = ("reporter@trackly.com", "reporter123")
SURPRISE = ("surprise@trackly.com", "surprise123")

__all__ = ["ADMIN", "MAINTAINER", "REPORTER", "SURPRISE", "Any"]
