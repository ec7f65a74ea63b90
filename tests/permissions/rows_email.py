"""Permission rows for email notifications: preferences (own), the organisation default (ADMIN),
unsubscribe (a signed token, no sign-in) and inbound email (a shared secret, no sign-in)."""

from __future__ import annotations

from tests.permissions.framework import Ctx, Prepared, Row, expect

SIGNED_IN = expect(anonymous=401, reporter=200, maintainer=200, admin=200)
ADMIN_ONLY = expect(anonymous=401, reporter=403, maintainer=403, admin=200)
EVERYONE = expect(anonymous=200, reporter=200, maintainer=200, admin=200)
NOBODY = expect(anonymous=403, reporter=403, maintainer=403, admin=403)
NO_SECRET = expect(anonymous=401, reporter=401, maintainer=401, admin=401)

SECRET = "inbound-secret-for-the-matrix-0123456789"
PREFERENCES = {
    "email": "daily",
    "reasons": ["commented"],
    "time_zone": "Europe/Amsterdam",
    "digest_hour": 7,
    "quiet_hours": None,
}


def _reporter_token(ctx: Ctx) -> Prepared:
    from trackly.config import get_settings
    from trackly.email.tokens import unsubscribe_token

    token = unsubscribe_token(ctx.reporter.id, key=get_settings().email_token_key)
    return Prepared(query={"token": token})


ROWS = [
    Row("get_notification_settings", SIGNED_IN),
    Row("put_notification_settings", SIGNED_IN, json=PREFERENCES),
    Row("list_notification_defaults", ADMIN_ONLY),
    Row("put_notification_default", ADMIN_ONLY, path={"role": "REPORTER"}, json=PREFERENCES),
    # The token names the user: whoever holds the link may use it, signed in or not.
    Row("unsubscribe_form", EVERYONE, setup=_reporter_token, variant="valid"),
    Row("unsubscribe_form", NOBODY, query={"token": "AAAAtampered"}, variant="tampered"),
    Row("unsubscribe_now", EVERYONE, setup=_reporter_token, variant="valid"),
    Row("unsubscribe_now", NOBODY, query={"token": "AAAAtampered"}, variant="tampered"),
    # A bearer token is no substitute for the provider's shared secret.
    Row("receive_email", NO_SECRET, settings={"EMAIL_INBOUND_SECRET": SECRET}, variant="no-secret"),
    Row(
        "receive_email",
        EVERYONE,
        settings={"EMAIL_INBOUND_SECRET": SECRET},
        headers={"X-Inbound-Secret": SECRET},
        variant="secret",
    ),
]
