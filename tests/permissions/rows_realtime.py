"""Permission rows for live updates: negotiate and the catch-up feed (any signed-in user)."""

from tests.permissions.framework import Row, expect

# Minting a client token with an access key needs no network, so any endpoint will do here.
CONFIGURED = {
    "WEBPUBSUB_CONNECTION_STRING": (
        "Endpoint=http://127.0.0.1:9;AccessKey=permission-matrix-access-key-0123456789;Version=1.0;"
    )
}

ROWS = [
    Row(
        "negotiate",
        expect(anonymous=401, reporter=200, maintainer=200, admin=200),
        settings=CONFIGURED,
        variant="configured",
    ),
    Row(
        "negotiate",
        expect(anonymous=401, reporter=503, maintainer=503, admin=503),
        variant="not-configured",
    ),
    Row("list_events", expect(anonymous=401, reporter=200, maintainer=200, admin=200)),
    Row(
        "list_events",
        expect(anonymous=401, reporter=200, maintainer=200, admin=200),
        query={"after": "0", "limit": "500"},
        variant="paged",
    ),
]

# The browser module is public (a page loads it before anyone signs in).
ROWS.append(Row("browser_client", expect(anonymous=200, reporter=200, maintainer=200, admin=200)))
