"""Fixture for the attachment rows: the app's storage pointed at the session's Azurite."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def attachment_storage(azurite: str, settings_env: Callable[..., None]) -> Iterator[str]:
    from trackly.attachments import storage

    storage.reset_clients()
    settings_env(AZURE_STORAGE_CONNECTION_STRING=azurite)
    yield azurite
    storage.reset_clients()
