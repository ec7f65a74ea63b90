"""A real Azurite (blob service) for the test session, started from node_modules.

`azurite` yields the connection string of the development account on a free loopback port.
Use it with `settings_env(AZURE_STORAGE_CONNECTION_STRING=azurite)`; the `storage_env` helper
fixture in tests/attachments does that and resets the cached blob clients.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    from trackly.local import azurite as localazurite

    if not localazurite.AZURITE_BIN.exists():
        pytest.fail("node_modules/.bin/azurite-blob is missing: run `npm install` (make test does it).")
    process = localazurite.start(port=localazurite.free_port())
    try:
        yield process.connection_string
    finally:
        process.stop()
